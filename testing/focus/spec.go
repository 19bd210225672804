// Package focus checks rows against FOCUS 1.2 (the FinOps Open Cost and Usage
// Specification), written from the specification's own text (columns/*.md and
// attributes/*.md of its v1.2 release), not from any mapping: a column's presence and
// nullability by feature level, its data type, allowed values, date/time and numeric
// format, the key-value format of Tags and SkuPriceDetails, the charge period within the
// billing period, one currency per row, custom columns prefixed x_ and no unknown
// unprefixed column, and the MUSTs that tie columns together (nullability that depends on
// another column, unit price x quantity = cost, a purchase is never usage-based).
//
// A row is a JSON object: an event's data. Its envelope members VanceSource and VanceType
// (the connector's, before the columns) are not columns. Only MUSTs are checked: a SHOULD
// (unit format, column order) is never a violation.
package focus

// Feature levels (Content constraints, "Feature level").
const (
	mandatory   = "Mandatory"
	conditional = "Conditional"
	recommended = "Recommended"
)

// Data types (Content constraints, "Data type").
const (
	tString   = "String"
	tDecimal  = "Decimal"
	tDateTime = "Date/Time"
	tJSON     = "JSON"
)

// spec is one column's content constraints.
type spec struct {
	level       string
	nullable    bool
	typ         string
	allowed     []string // "Allowed values", when the value format is a list
	currency    bool     // Currency Format: an ISO 4217 national currency code
	virtual     bool     // with currency: or a virtual currency's name (currency_format.md)
	nonNegative bool     // Number range: "Any valid non-negative decimal value"
}

// columns are FOCUS 1.2's columns, each as its file's "Content constraints" table says.
var columns = map[string]spec{
	"AvailabilityZone":           {level: recommended, nullable: true, typ: tString},
	"BilledCost":                 {level: mandatory, typ: tDecimal},
	"BillingAccountId":           {level: mandatory, typ: tString},
	"BillingAccountName":         {level: mandatory, nullable: true, typ: tString},
	"BillingAccountType":         {level: conditional, typ: tString},
	"BillingCurrency":            {level: mandatory, typ: tString, currency: true},
	"BillingPeriodEnd":           {level: mandatory, typ: tDateTime},
	"BillingPeriodStart":         {level: mandatory, typ: tDateTime},
	"CapacityReservationId":      {level: conditional, nullable: true, typ: tString},
	"CapacityReservationStatus":  {level: conditional, nullable: true, typ: tString, allowed: []string{"Used", "Unused"}},
	"ChargeCategory":             {level: mandatory, typ: tString, allowed: []string{"Usage", "Purchase", "Tax", "Credit", "Adjustment"}},
	"ChargeClass":                {level: mandatory, nullable: true, typ: tString, allowed: []string{"Correction"}},
	"ChargeDescription":          {level: mandatory, nullable: true, typ: tString},
	"ChargeFrequency":            {level: recommended, typ: tString, allowed: []string{"One-Time", "Recurring", "Usage-Based"}},
	"ChargePeriodEnd":            {level: mandatory, typ: tDateTime},
	"ChargePeriodStart":          {level: mandatory, typ: tDateTime},
	"CommitmentDiscountCategory": {level: conditional, nullable: true, typ: tString, allowed: []string{"Spend", "Usage"}},
	"CommitmentDiscountId":       {level: conditional, nullable: true, typ: tString},
	"CommitmentDiscountName":     {level: conditional, nullable: true, typ: tString},
	"CommitmentDiscountQuantity": {level: conditional, nullable: true, typ: tDecimal},
	"CommitmentDiscountStatus":   {level: conditional, nullable: true, typ: tString, allowed: []string{"Used", "Unused"}},
	"CommitmentDiscountType":     {level: conditional, nullable: true, typ: tString},
	"CommitmentDiscountUnit":     {level: conditional, nullable: true, typ: tString},
	"ConsumedQuantity":           {level: conditional, nullable: true, typ: tDecimal},
	"ConsumedUnit":               {level: conditional, nullable: true, typ: tString},
	"ContractedCost":             {level: mandatory, typ: tDecimal},
	"ContractedUnitPrice":        {level: conditional, nullable: true, typ: tDecimal, nonNegative: true},
	"EffectiveCost":              {level: mandatory, typ: tDecimal},
	"InvoiceId":                  {level: recommended, nullable: true, typ: tString},
	"InvoiceIssuerName":          {level: mandatory, typ: tString},
	"ListCost":                   {level: mandatory, typ: tDecimal},
	"ListUnitPrice":              {level: conditional, nullable: true, typ: tDecimal, nonNegative: true},
	"PricingCategory":            {level: conditional, nullable: true, typ: tString, allowed: []string{"Standard", "Dynamic", "Committed", "Other"}},
	// PricingCurrency and PricingCurrencyEffectiveCost: their requirements say "MUST NOT be
	// null", their tables "Allows nulls: True"; the requirement is the MUST.
	"PricingCurrency":                    {level: conditional, typ: tString, currency: true, virtual: true},
	"PricingCurrencyContractedUnitPrice": {level: conditional, nullable: true, typ: tDecimal, nonNegative: true},
	"PricingCurrencyEffectiveCost":       {level: conditional, typ: tDecimal},
	"PricingCurrencyListUnitPrice":       {level: conditional, nullable: true, typ: tDecimal, nonNegative: true},
	"PricingQuantity":                    {level: mandatory, nullable: true, typ: tDecimal},
	"PricingUnit":                        {level: mandatory, nullable: true, typ: tString},
	"ProviderName":                       {level: mandatory, typ: tString},
	"PublisherName":                      {level: mandatory, typ: tString},
	"RegionId":                           {level: conditional, nullable: true, typ: tString},
	"RegionName":                         {level: conditional, nullable: true, typ: tString},
	"ResourceId":                         {level: conditional, nullable: true, typ: tString},
	"ResourceName":                       {level: conditional, nullable: true, typ: tString},
	"ResourceType":                       {level: conditional, nullable: true, typ: tString},
	"ServiceCategory":                    {level: mandatory, typ: tString, allowed: serviceCategories},
	"ServiceName":                        {level: mandatory, typ: tString},
	"ServiceSubcategory":                 {level: recommended, typ: tString, allowed: serviceSubcategoryNames()},
	"SkuId":                              {level: conditional, nullable: true, typ: tString},
	"SkuMeter":                           {level: conditional, nullable: true, typ: tString},
	"SkuPriceDetails":                    {level: conditional, nullable: true, typ: tJSON},
	"SkuPriceId":                         {level: conditional, nullable: true, typ: tString},
	"SubAccountId":                       {level: conditional, nullable: true, typ: tString},
	"SubAccountName":                     {level: conditional, nullable: true, typ: tString},
	"SubAccountType":                     {level: conditional, nullable: true, typ: tString},
	"Tags":                               {level: conditional, nullable: true, typ: tJSON},
}

// envelope are the members of an event's data that come before the columns.
var envelope = map[string]bool{"VanceSource": true, "VanceType": true}

var serviceCategories = []string{"AI and Machine Learning", "Analytics", "Business Applications", "Compute",
	"Databases", "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
	"Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other"}

// serviceSubcategories are the allowed subcategories of each category
// (servicesubcategory.md: each has one and only one parent).
var serviceSubcategories = map[string][]string{
	"AI and Machine Learning":   {"AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing", "Other (AI and Machine Learning)"},
	"Analytics":                 {"Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics", "Other (Analytics)"},
	"Business Applications":     {"Productivity and Collaboration", "Other (Business Applications)"},
	"Compute":                   {"Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines", "Other (Compute)"},
	"Databases":                 {"Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases", "Time Series Databases", "Other (Databases)"},
	"Developer Tools":           {"Developer Platforms", "Continuous Integration and Deployment", "Development Environments", "Source Code Management", "Quality Assurance", "Other (Developer Tools)"},
	"Identity":                  {"Identity and Access Management", "Other (Identity)"},
	"Integration":               {"API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"},
	"Internet of Things":        {"IoT Analytics", "IoT Platforms", "Other (Internet of Things)"},
	"Management and Governance": {"Architecture", "Compliance", "Cost Management", "Data Governance", "Disaster Recovery", "Endpoint Management", "Observability", "Support", "Other (Management and Governance)"},
	"Media":                     {"Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"},
	"Migration":                 {"Data Migration", "Resource Migration", "Other (Migration)"},
	"Mobile":                    {"Other (Mobile)"},
	"Multicloud":                {"Multicloud Integration", "Other (Multicloud)"},
	"Networking":                {"Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure", "Network Routing", "Network Security", "Other (Networking)"},
	"Security":                  {"Secret Management", "Security Posture Management", "Threat Detection and Response", "Other (Security)"},
	"Storage":                   {"Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms", "Other (Storage)"},
	"Web":                       {"Application Platforms", "Other (Web)"},
	"Other":                     {"Other (Other)"},
}

func serviceSubcategoryNames() []string {
	var out []string
	for _, c := range serviceCategories {
		out = append(out, serviceSubcategories[c]...)
	}
	return out
}

// skuPriceProperties are the FOCUS-defined SkuPriceDetails keys (skupricedetails.md);
// any other key must start with x_.
var skuPriceProperties = map[string]bool{"CoreCount": true, "DiskMaxIops": true, "DiskSpace": true,
	"DiskType": true, "GpuCount": true, "InstanceType": true, "InstanceSeries": true, "MemorySize": true,
	"NetworkMaxIops": true, "NetworkMaxThroughput": true, "OperatingSystem": true, "Redundancy": true,
	"StorageClass": true}

// nationalCurrencies are ISO 4217's active codes of national currencies (BillingCurrency
// MUST be one; the codes of metals, funds and test currencies, X.., are not).
var nationalCurrencies = setOf(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND
BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST
XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`)

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	word := ""
	for _, r := range s + " " {
		if r == ' ' || r == '\n' {
			if word != "" {
				m[word] = true
			}
			word = ""
			continue
		}
		word += string(r)
	}
	return m
}
