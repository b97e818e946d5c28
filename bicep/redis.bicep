// Azure Cache for Redis: the serving store when topten.bicep's servingStore is 'redis'
// (TOPTEN_STORE rediss://NAME.redis.cache.windows.net:6380). Like cosmos.bicep, nothing here
// holds a key: access keys are disabled and clients authenticate with Microsoft Entra ID tokens,
// as the user whose name is their object id. The cache only takes TLS (1.2 or later) on the SSL
// port, and it must never evict: topten refuses to start on a cache whose maxmemory-policy is
// anything but noeviction, because an evicted user list or active pointer would silently serve
// wrong answers.

@description('Cache name (1-63 letters, digits and hyphens, globally unique: NAME.redis.cache.windows.net).')
@minLength(1)
@maxLength(63)
param name string

@description('Region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Standard (two replicated nodes, 99.9% SLA) or Premium (faster hardware, zones, clustering).')
@allowed([
  'Standard'
  'Premium'
])
param skuName string = 'Standard'

@description('Cache size: 0-6 for Standard (C0 250 MB, C1 1 GB, C2 2.5 GB, C3 6 GB, C4 13 GB, C5 26 GB, C6 53 GB), 1-5 for Premium (P1 6 GB to P5 120 GB).')
@minValue(0)
@maxValue(6)
param capacity int = 1

@description('Principal (object) id of the function app\'s managed identity.')
param appPrincipalId string

@description('Optional principal (object) id of a developer or CI identity that runs `topten publish`.')
param userPrincipalId string = ''

// Built-in access policy with every command on every key: it covers all the app does (publish and
// delete versions, write events, read the eviction setting at start-up) without a custom policy.
var accessPolicyName = 'Data Owner'

resource cache 'Microsoft.Cache/redis@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: skuName == 'Premium' ? 'P' : 'C'
      capacity: capacity
    }
    // TLS only (port 6380), TLS 1.2 minimum.
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    // Entra ID only: no access key to leak.
    disableAccessKeyAuthentication: true
    // The Flex Consumption app reaches the cache over its public endpoint, as it does Cosmos DB
    // (no VNet integration in these templates); Entra ID and TLS guard it.
    publicNetworkAccess: 'Enabled'
    redisConfiguration: {
      'aad-enabled': 'true'
      'maxmemory-policy': 'noeviction'
    }
  }
}

// The Redis user of an Entra identity is its object id. The alias is set to the object id as
// well, so the name clients authenticate with is the object id whichever of the two the service
// takes.
resource appDataOwner 'Microsoft.Cache/redis/accessPolicyAssignments@2024-11-01' = {
  parent: cache
  name: guid(cache.id, appPrincipalId, accessPolicyName)
  properties: {
    accessPolicyName: accessPolicyName
    objectId: appPrincipalId
    objectIdAlias: appPrincipalId
  }
}

// Assignments on one cache are applied one at a time; the second waits for the first.
resource userDataOwner 'Microsoft.Cache/redis/accessPolicyAssignments@2024-11-01' = if (!empty(userPrincipalId)) {
  parent: cache
  name: guid(cache.id, userPrincipalId, accessPolicyName)
  properties: {
    accessPolicyName: accessPolicyName
    objectId: userPrincipalId
    objectIdAlias: userPrincipalId
  }
  dependsOn: [
    appDataOwner
  ]
}

output name string = cache.name

@description('e.g. NAME.redis.cache.windows.net')
output hostName string = cache.properties.hostName

@description('TOPTEN_STORE: rediss://HOST:SSLPORT (6380).')
output uri string = 'rediss://${cache.properties.hostName}:${cache.properties.sslPort}'
