// Storage account shared by the Functions host and topten's data:
//   container `deploymentContainerName`: the Flex Consumption deployment package (written by azd /
//     az functionapp deployment, read by the platform with the app's identity);
//   container `dataContainerName`: training input under `training/` (TRAINING_INPUT) and model
//     artifacts under `models/{version}/` (TOPTEN_MODEL_ROOT);
//   AzureWebJobsStorage (identity based): timer-trigger schedule status and locks, host keys.
// Shared-key access is disabled, so no connection string or SAS exists for this account: every
// client authenticates with Entra ID (the app's managed identity, or a developer's own login).

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Container that holds the Functions deployment package.')
param deploymentContainerName string

@description('Container for training input (training/) and model artifacts (models/{version}/).')
param dataContainerName string

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

@description('Optional principal id of a developer or CI identity that uploads training data and models.')
param userPrincipalId string = ''

@description('Type of userPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param userPrincipalType string = 'User'

@description('Days a deleted blob can be restored.')
param blobSoftDeleteDays int = 7

// Built-in role definitions (ids are the same in every tenant).
// Storage Blob Data Owner: the Functions host needs Owner on AzureWebJobsStorage (blob leases and
// container management); it also covers the package container and the data container.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Blob Data Contributor: read, write and delete blobs, nothing else; for the developer.
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: false
      services: {
        blob: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dataContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: dataContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The developer gets data access to the data container only, not to the host's containers.
resource userDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: dataContainer
  name: guid(dataContainer.id, userPrincipalId, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

output name string = storage.name

@description('Blob endpoint, e.g. https://NAME.blob.core.windows.net/')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

output deploymentContainerName string = deploymentContainer.name
output dataContainerName string = dataContainer.name
