// The Function App: Flex Consumption plan (FC1, Linux) running topten's `handler` binary as a
// custom handler (runtime `custom` 1.0 in functionAppConfig). Flex Consumption rather than the
// Linux Consumption (Y1) plan because: its stack list offers `custom` on FC1; the package is
// pulled from a blob container with the managed identity (Y1 on Linux needs a SAS URL in
// WEBSITE_RUN_FROM_PACKAGE, i.e. a secret in an app setting); host.json's 30-minute
// functionTimeout for the retrain timer is within Flex's limits but above Y1's 10 minutes; and Y1
// on Linux is retired in September 2028.
//
// Everything the app reaches is reached with the user-assigned identity; no app setting holds a
// key, a SAS or a password.

@description('Function app name (globally unique host name NAME.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Region (must offer Flex Consumption: `az functionapp list-flexconsumption-locations`).')
param location string

@description('Tags for the resources. The app also gets azd-service-name.')
param tags object = {}

@description('azd service name in azure.yaml; azd finds the app by this tag.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Principal id of the user-assigned identity.')
param identityPrincipalId string

@description('Blob endpoint of the storage account, with trailing slash.')
param storageBlobEndpoint string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Instance memory in MB. 2048 leaves room for a retrain of a mid-sized data set; 512 suffices for serving alone.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to (Flex allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances of the HTTP group (0: scale to zero; each one is billed while idle).')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('topten app settings (TOPTEN_STORE, RETRAIN_SCHEDULE, ...); merged over the platform settings.')
param appSettings object

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Platform settings. Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION (the runtime is functionAppConfig.runtime), so neither is set.
var platformSettings = {
  // Identity-based host storage: blob only (timer status and locks, keys). No connection string.
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Local auth is disabled on the component, so telemetry is sent with an Entra token.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Which identity azure_identity's ManagedIdentityCredential uses for Cosmos DB and Blob Storage.
  AZURE_CLIENT_ID: identityClientId
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': azdServiceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, platformSettings)
}

// No publishing with user name and password: FTP off, and the SCM (Kudu) endpoint accepts only
// Entra tokens, which is what azd and `az functionapp deployment` use.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// Monitoring Metrics Publisher on the component: lets the identity send telemetry (local auth off).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = site.name

@description('Default host name, e.g. NAME.azurewebsites.net')
output defaultHostName string = site.properties.defaultHostName
