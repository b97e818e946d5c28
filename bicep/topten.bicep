// topten in one resource group: the composition of the modules in this folder. Deployed by
// bicep/main.bicep (azd, subscription scope) or directly with
//   az deployment group create -g RG -f bicep/topten.bicep -p environmentName=NAME
// (infra/deploy.sh does that). Resources:
//   user-assigned identity ─┬─ Storage Blob Data Owner ──────────▶ storage account
//                           ├─ Cosmos DB Built-in Data Contributor ▶ Cosmos DB account
//                           │    or Redis Data Owner / default ───▶ Azure (Managed) Redis
//                           └─ Monitoring Metrics Publisher ───────▶ Application Insights
//   Flex Consumption plan ─── function app (custom handler `handler`, runs as that identity)
//   Log Analytics workspace ◀─ Application Insights
// The serving store is one of Cosmos DB (servingStore 'cosmos', the default), Azure Cache for
// Redis ('redis') or Azure Managed Redis ('managedRedis'); only the chosen one is deployed, and
// TOPTEN_STORE points at it.

@description('Short environment name; seeds the unique suffix of every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every resource (must offer Flex Consumption).')
param location string = resourceGroup().location

@description('Optional principal id of the developer or CI identity that runs `topten publish` and uploads training data: gets data access to the serving store (Cosmos data contributor, or the Redis data access policy) and blob data contributor on the data container.')
param principalId string = ''

@description('Type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// ---- Serving store ----
@description('Store the app serves from (TOPTEN_STORE): cosmos (Cosmos DB for NoSQL), redis (Azure Cache for Redis) or managedRedis (Azure Managed Redis). Only the chosen store is deployed.')
@allowed([
  'cosmos'
  'redis'
  'managedRedis'
])
param servingStore string = 'cosmos'

// ---- Azure Cache for Redis (servingStore redis) ----
@description('Azure Cache for Redis tier: Standard (replicated, 99.9% SLA) or Premium.')
@allowed([
  'Standard'
  'Premium'
])
param redisSkuName string = 'Standard'

@description('Azure Cache for Redis size: 0-6 for Standard (C0 250 MB ... C6 53 GB), 1-5 for Premium (P1 6 GB ... P5 120 GB).')
@minValue(0)
@maxValue(6)
param redisCapacity int = 1

// ---- Azure Managed Redis (servingStore managedRedis) ----
@description('Azure Managed Redis SKU, e.g. Balanced_B0, Balanced_B1, Balanced_B5, MemoryOptimized_M10, ComputeOptimized_X3.')
param managedRedisSku string = 'Balanced_B1'

// ---- Cosmos DB (servingStore cosmos) ----
@description('serverless (default: pay per request) or provisioned (autoscale RU/s).')
@allowed([
  'serverless'
  'provisioned'
])
param cosmosCapacityMode string = 'serverless'

@description('Autoscale maximum RU/s when cosmosCapacityMode is provisioned.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Cosmos DB database name.')
param cosmosDatabaseName string = 'topten'

@description('Cosmos DB container name.')
param cosmosContainerName string = 'recommendations'

@description('Container default TTL in seconds (-1: TTL on, documents expire only when they carry "ttl").')
param cosmosDefaultTtl int = -1

@description('Document paths to index. Point reads need none; publish (count) and prune (delete) filter on modelVersion and docType; reads of recent events (trending, stats, retrain) on the receipt time.')
param cosmosIndexedPaths array = [
  '/modelVersion/?'
  '/docType/?'
  '/event/receivedAtMs/?'
]

// ---- Blob data ----
@description('Blob container for training input and model artifacts.')
param dataContainerName string = 'topten'

@description('Prefix of the training input blobs inside the data container (TRAINING_INPUT).')
param trainingPrefix string = 'training/'

@description('Prefix of the model directories inside the data container (TOPTEN_MODEL_ROOT/{version}/).')
param modelsPrefix string = 'models'

// ---- Handler settings (README "Settings") ----
@description('NCRONTAB (6 fields, UTC) of the retrain timer: second minute hour day month day-of-week.')
param retrainSchedule string = '0 0 3 * * *'

@description('Model family of retrains.')
@allowed([
  'implicit'
  'explicit'
])
param retrainModel string = 'implicit'

@description('Where retrain candidates come from instead of training on trainingInput: empty, or spark:az://ACCOUNT/CONTAINER/PREFIX/ for the newest complete run of spark/topten_als.py (docs/spark.md).')
param retrainSource string = ''

@description('Gate metric of retrains.')
param qualityMetric string = 'ndcg_at_k'

@description('Allowed relative drop of the gate metric (a decimal string, e.g. 0.02).')
param qualityTolerance string = '0.02'

@description('Items stored per user when publishing.')
@minValue(1)
param itemsPerUser int = 50

@description('Answer for users without personal recommendations.')
@allowed([
  'popular'
  'not-found'
])
param unknownUser string = 'popular'

@description('Handler log filter.')
param logLevel string = 'info'

@description('One log line per request from the handler. Off by default: the Functions host already records every request in Application Insights, and the duplicate lines would double ingestion cost.')
param logRequests bool = false

// ---- Functions ----
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

@description('Always-ready HTTP instances (0: scale to zero, no idle cost).')
@minValue(0)
param alwaysReadyHttpInstances int = 0

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'topten'
}
var deploymentContainerName = 'app-package'

module identity 'identity.bicep' = {
  name: 'topten-identity'
  params: {
    name: 'id-topten-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'monitoring.bicep' = {
  name: 'topten-monitoring'
  params: {
    logAnalyticsName: 'log-topten-${resourceToken}'
    applicationInsightsName: 'appi-topten-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'storage.bicep' = {
  name: 'topten-storage'
  params: {
    name: 'sttopten${take(resourceToken, 13)}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    dataContainerName: dataContainerName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module cosmos 'cosmos.bicep' = if (servingStore == 'cosmos') {
  name: 'topten-cosmos'
  params: {
    accountName: 'cosmos-topten-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    defaultTtl: cosmosDefaultTtl
    indexedPaths: cosmosIndexedPaths
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module redis 'redis.bicep' = if (servingStore == 'redis') {
  name: 'topten-redis'
  params: {
    name: 'redis-topten-${resourceToken}'
    location: location
    tags: tags
    skuName: redisSkuName
    capacity: redisCapacity
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module managedRedis 'managedredis.bicep' = if (servingStore == 'managedRedis') {
  name: 'topten-managed-redis'
  params: {
    name: 'amr-topten-${resourceToken}'
    location: location
    tags: tags
    skuName: managedRedisSku
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

// The URIs the handler and the CLI share (README "Deployment" lists them). Each store's outputs
// are read only on the branch where that store is deployed (ARM evaluates one branch of `?:`).
var cosmosStore = servingStore == 'cosmos' ? 'cosmos://${cosmos!.outputs.host}/${cosmos!.outputs.databaseName}/${cosmos!.outputs.containerName}' : ''
var toptenStore = servingStore == 'redis' ? redis!.outputs.uri : (servingStore == 'managedRedis' ? managedRedis!.outputs.uri : cosmosStore)
var trainingInput = 'az://${storage.outputs.name}/${storage.outputs.dataContainerName}/${trainingPrefix}'
var modelRoot = 'az://${storage.outputs.name}/${storage.outputs.dataContainerName}/${modelsPrefix}'

module functionApp 'functionapp.bicep' = {
  name: 'topten-functionapp'
  params: {
    name: 'func-topten-${resourceToken}'
    planName: 'plan-topten-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    appSettings: union({
      TOPTEN_STORE: toptenStore
      TOPTEN_UNKNOWN_USER: unknownUser
      TOPTEN_LOG: logLevel
      TOPTEN_LOG_REQUESTS: logRequests ? 'true' : 'false' // ARM's string(bool) gives 'False'
      RETRAIN_SCHEDULE: retrainSchedule
      TRAINING_INPUT: trainingInput
      TOPTEN_MODEL_ROOT: modelRoot
      RETRAIN_MODEL: retrainModel
      QUALITY_METRIC: qualityMetric
      QUALITY_TOLERANCE: qualityTolerance
      ITEMS_PER_USER: string(itemsPerUser)
    }, empty(retrainSource) ? {} : {
      RETRAIN_SOURCE: retrainSource
    })
  }
}

// Outputs are names and URIs only (azd stores them in .azure/ENV/.env); nothing here is a secret.
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output AZURE_COSMOS_ACCOUNT string = servingStore == 'cosmos' ? cosmos!.outputs.accountName : ''
output AZURE_COSMOS_ENDPOINT string = servingStore == 'cosmos' ? cosmos!.outputs.endpoint : ''
output AZURE_REDIS_NAME string = servingStore == 'redis' ? redis!.outputs.name : (servingStore == 'managedRedis' ? managedRedis!.outputs.name : '')
output AZURE_REDIS_HOST string = servingStore == 'redis' ? redis!.outputs.hostName : (servingStore == 'managedRedis' ? managedRedis!.outputs.hostName : '')
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output TOPTEN_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output TOPTEN_STORE string = toptenStore
output TRAINING_INPUT string = trainingInput
output TOPTEN_MODEL_ROOT string = modelRoot
