// Azure Managed Redis (resource type Microsoft.Cache/redisEnterprise): the serving store when
// topten.bicep's servingStore is 'managedRedis' (TOPTEN_STORE rediss://HOST:10000, HOST being
// NAME.REGION.redis.azure.net). One cluster with its one database, named 'default'. As in
// redis.bicep: Entra ID only (access keys disabled), TLS only (1.2 or later), and no eviction,
// which topten checks at start-up. The database uses the Enterprise clustering policy, which
// presents the whole cluster as one Redis endpoint: topten's Redis client does not follow
// cluster redirections, so the OSS policy (the service's default) would not work with it.

@description('Cluster name (1-60 letters, digits and single hyphens; the host is NAME.REGION.redis.azure.net).')
@minLength(1)
@maxLength(60)
param name string

@description('Region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Azure Managed Redis SKU: Balanced_B0, Balanced_B1, Balanced_B3, ... (general purpose), MemoryOptimized_M10, ... or ComputeOptimized_X3, .... Entra ID needs one of these; the older Enterprise_* SKUs do not support it.')
param skuName string = 'Balanced_B1'

@description('Principal (object) id of the function app\'s managed identity.')
param appPrincipalId string

@description('Optional principal (object) id of a developer or CI identity that runs `topten publish`.')
param userPrincipalId string = ''

// The only access policy Azure Managed Redis offers: full data access.
var accessPolicyName = 'default'

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    // Reached over the public endpoint, like Cosmos DB; Entra ID and TLS guard it.
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    // TLS only.
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'NoEviction'
    // Entra ID only: no access key to leak.
    accessKeysAuthentication: 'Disabled'
  }
}

// Assignment names are 1-60 letters and digits: a GUID without its hyphens. The Redis user of an
// Entra identity is its object id.
resource appAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: replace(guid(database.id, appPrincipalId, accessPolicyName), '-', '')
  properties: {
    accessPolicyName: accessPolicyName
    user: {
      objectId: appPrincipalId
    }
  }
}

// Applied one after the other, like the assignments in redis.bicep.
resource userAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (!empty(userPrincipalId)) {
  parent: database
  name: replace(guid(database.id, userPrincipalId, accessPolicyName), '-', '')
  properties: {
    accessPolicyName: accessPolicyName
    user: {
      objectId: userPrincipalId
    }
  }
  dependsOn: [
    appAccess
  ]
}

output name string = cluster.name

@description('e.g. NAME.REGION.redis.azure.net')
output hostName string = cluster.properties.hostName

@description('TOPTEN_STORE: rediss://HOST:PORT (10000).')
output uri string = 'rediss://${cluster.properties.hostName}:${database.properties.port}'
