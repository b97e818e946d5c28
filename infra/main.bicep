// Entry point for the Azure Developer CLI (`azd up`): creates the resource group and deploys
// bicep/topten.bicep into it. Parameters come from main.parameters.json, where azd substitutes
// ${AZURE_ENV_NAME}, ${AZURE_LOCATION} and ${AZURE_PRINCIPAL_ID} (the signed-in user, who then
// gets data access to Cosmos DB and the data container for `topten publish`).
targetScope = 'subscription'

@description('azd environment name; seeds resource names and the resource group name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every resource (must offer Flex Consumption: `az functionapp list-flexconsumption-locations`).')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty: rg-ENVIRONMENT.')
param resourceGroupName string = ''

@description('Principal id of the deploying user (azd sets AZURE_PRINCIPAL_ID); empty: no developer access.')
param principalId string = ''

@description('Type of principalId (ServicePrincipal when azd runs in CI).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('serverless (default) or provisioned Cosmos DB throughput.')
@allowed([
  'serverless'
  'provisioned'
])
param cosmosCapacityMode string = 'serverless'

@description('Autoscale maximum RU/s when cosmosCapacityMode is provisioned.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('NCRONTAB (6 fields, UTC) of the retrain timer.')
param retrainSchedule string = '0 0 3 * * *'

@description('Instance memory of the Flex Consumption app in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: {
    'azd-env-name': environmentName
  }
}

module topten '../bicep/topten.bicep' = {
  name: 'topten'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    principalId: principalId
    principalType: principalType
    cosmosCapacityMode: cosmosCapacityMode
    cosmosAutoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    retrainSchedule: retrainSchedule
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = topten.outputs.AZURE_FUNCTION_APP_NAME
output FUNCTION_APP_URL string = topten.outputs.FUNCTION_APP_URL
output AZURE_STORAGE_ACCOUNT string = topten.outputs.AZURE_STORAGE_ACCOUNT
output AZURE_COSMOS_ACCOUNT string = topten.outputs.AZURE_COSMOS_ACCOUNT
output AZURE_COSMOS_ENDPOINT string = topten.outputs.AZURE_COSMOS_ENDPOINT
output APPLICATIONINSIGHTS_NAME string = topten.outputs.APPLICATIONINSIGHTS_NAME
output TOPTEN_IDENTITY_CLIENT_ID string = topten.outputs.TOPTEN_IDENTITY_CLIENT_ID
output TOPTEN_STORE string = topten.outputs.TOPTEN_STORE
output TRAINING_INPUT string = topten.outputs.TRAINING_INPUT
output TOPTEN_MODEL_ROOT string = topten.outputs.TOPTEN_MODEL_ROOT
