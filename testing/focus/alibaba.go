package focus

// Alibaba is the dataset of the connector's FOCUS bill: its Present are the Conditional
// and Recommended columns whose condition Alibaba's data meets (columns/*.md): resources
// in regions and zones, billed as provisioned resources of typed products, sub accounts
// (the owners of a bill account), user-defined tags, measured usage, published list
// prices, more than one pricing category, and SKUs.
var Alibaba = Dataset{Present: []string{"AvailabilityZone", "RegionId", "RegionName", "ResourceId", "ResourceName",
	"ResourceType", "SubAccountId", "SubAccountName", "Tags", "ConsumedQuantity", "ConsumedUnit", "ListUnitPrice",
	"PricingCategory", "SkuId", "SkuMeter", "SkuPriceId", "ChargeFrequency", "ServiceSubcategory"}}
