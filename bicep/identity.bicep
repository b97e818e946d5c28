// User-assigned managed identity of the function app. One identity for everything the handler
// touches (host storage, deployment container, training data and models, Cosmos DB, Application
// Insights), so its client id is the single AZURE_CLIENT_ID the handler's credential needs and it
// can be granted its roles before the app exists (no chicken-and-egg with a system identity).

@description('Name of the identity.')
param name string

@description('Region.')
param location string

@description('Tags for the resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id (for the app\'s identity block and the deployment storage authentication).')
output id string = identity.id

@description('Object (principal) id, the subject of every role assignment.')
output principalId string = identity.properties.principalId

@description('Client id: the AZURE_CLIENT_ID app setting. An identifier, not a secret.')
output clientId string = identity.properties.clientId

output name string = identity.name
