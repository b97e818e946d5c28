// Entry point for the Azure Developer CLI (`azd up`): creates the resource group and deploys
// bicep/topten.bicep into it. Parameters come from main.parameters.json, where azd substitutes
// ${AZURE_ENV_NAME}, ${AZURE_LOCATION} and ${AZURE_PRINCIPAL_ID} (the signed-in user, who then
// gets data access to the serving store and the data container for `topten publish`), and the
// TOPTEN_* variables set with `azd env set` (e.g. TOPTEN_SERVING_STORE=redis).
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

@description('Serving store: cosmos (default), redis (Azure Cache for Redis) or managedRedis (Azure Managed Redis).')
@allowed([
  'cosmos'
  'redis'
  'managedRedis'
])
param servingStore string = 'cosmos'

@description('Azure Cache for Redis tier when servingStore is redis.')
@allowed([
  'Standard'
  'Premium'
])
param redisSkuName string = 'Standard'

@description('Azure Cache for Redis size when servingStore is redis: 0-6 for Standard, 1-5 for Premium.')
@minValue(0)
@maxValue(6)
param redisCapacity int = 1

@description('Azure Managed Redis SKU when servingStore is managedRedis.')
param managedRedisSku string = 'Balanced_B1'

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

@description('Where retrains take candidates from: empty (train here) or spark:az://ACCOUNT/CONTAINER/PREFIX/ (docs/spark.md).')
param retrainSource string = ''

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

module topten 'topten.bicep' = {
  name: 'topten'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    principalId: principalId
    principalType: principalType
    servingStore: servingStore
    redisSkuName: redisSkuName
    redisCapacity: redisCapacity
    managedRedisSku: managedRedisSku
    cosmosCapacityMode: cosmosCapacityMode
    cosmosAutoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    retrainSchedule: retrainSchedule
    retrainSource: retrainSource
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
output AZURE_REDIS_NAME string = topten.outputs.AZURE_REDIS_NAME
output AZURE_REDIS_HOST string = topten.outputs.AZURE_REDIS_HOST
output APPLICATIONINSIGHTS_NAME string = topten.outputs.APPLICATIONINSIGHTS_NAME
output TOPTEN_IDENTITY_CLIENT_ID string = topten.outputs.TOPTEN_IDENTITY_CLIENT_ID
output TOPTEN_STORE string = topten.outputs.TOPTEN_STORE
output TRAINING_INPUT string = topten.outputs.TRAINING_INPUT
output TOPTEN_MODEL_ROOT string = topten.outputs.TOPTEN_MODEL_ROOT
