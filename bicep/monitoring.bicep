// Log Analytics workspace and workspace-based Application Insights. Local (instrumentation key)
// authentication is disabled: ingestion needs an Entra token, which the function app gets from its
// managed identity (Monitoring Metrics Publisher, granted in functionapp.bicep). The connection
// string therefore identifies the component but is not a credential.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Days of log retention (30 is included in the Log Analytics price).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Daily ingestion cap in GB (-1: none). A cap keeps a log storm from becoming a bill.')
param dailyQuotaGb int = 1

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

// The connection string is deliberately not an output: functionapp.bicep reads it from the
// component itself, so it never appears in deployment outputs.
output applicationInsightsName string = applicationInsights.name

output logAnalyticsName string = logAnalytics.name
