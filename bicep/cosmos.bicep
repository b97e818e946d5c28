// Cosmos DB for NoSQL: the serving store. One container, partition key /userId, one document per
// user per model version (id "{version}:{userId}") plus the small active-pointer and version
// documents; a recommendation request is one point read (id + partition key), which needs no
// index at all. Key (local) auth is disabled: the app and developers use Entra ID with the
// built-in data contributor role, so there is no account key to leak.

@description('Account name (3-44 lowercase letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(44)
param accountName string

@description('Region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Database name (the DB part of TOPTEN_STORE).')
param databaseName string

@description('Container name (the CONTAINER part of TOPTEN_STORE).')
param containerName string

@description('serverless: pay per RU consumed (no minimum; best below ~1 sustained request/s per RU budget). provisioned: autoscale RU/s on the container.')
@allowed([
  'serverless'
  'provisioned'
])
param capacityMode string = 'serverless'

@description('Autoscale maximum RU/s of the container when capacityMode is provisioned (scales between 10% and 100%).')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Paths indexed in addition to id and _ts (which Cosmos always indexes). Point reads need none.')
param indexedPaths array = []

@description('Container default TTL in seconds: -1 enables TTL without expiring anything by default, so documents of old versions can carry their own "ttl"; a positive value expires every document after that many seconds.')
param defaultTtl int = -1

@description('Default consistency; point reads cost the same RU under Session and Eventual.')
@allowed([
  'Eventual'
  'ConsistentPrefix'
  'Session'
])
param defaultConsistencyLevel string = 'Session'

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

@description('Optional principal id of a developer or CI identity that runs `topten publish`.')
param userPrincipalId string = ''

// Cosmos DB Built-in Data Contributor (data plane: read, write, query, delete items; no control
// plane). The same id in every account.
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

var serverless = capacityMode == 'serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: defaultConsistencyLevel
    }
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    enableAutomaticFailover: false
    enableMultipleWriteLocations: false
    enableFreeTier: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/userId'
        ]
        kind: 'Hash'
        version: 2
      }
      // Opt-in indexing: exclude everything, include only indexedPaths. Writes then cost the
      // minimum RU (no index maintenance), point reads are unaffected, and id-based queries
      // (e.g. pruning a version by id prefix) still use the always-present id index.
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [for path in indexedPaths: {
          path: path
        }]
        excludedPaths: [
          {
            path: '/*'
          }
        ]
      }
      defaultTtl: defaultTtl
    }
    // Serverless containers take no throughput setting at all.
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource appDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, appPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: appPrincipalId
    scope: account.id
  }
}

resource userDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (!empty(userPrincipalId)) {
  parent: account
  name: guid(account.id, userPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: userPrincipalId
    scope: account.id
  }
}

output accountName string = account.name

@description('e.g. https://NAME.documents.azure.com:443/')
output endpoint string = account.properties.documentEndpoint

@description('Host name of the account endpoint, e.g. NAME.documents.azure.com')
output host string = replace(replace(account.properties.documentEndpoint, 'https://', ''), ':443/', '')

output databaseName string = database.name
output containerName string = container.name
