package focus

// service is a product's place in FOCUS's service taxonomy.
type service struct{ category, subcategory string }

// products maps Alibaba Cloud product codes (the ProductCode of the BSS OpenAPI bills, as
// QueryProductList lists them) to FOCUS 1.2 ServiceCategory and ServiceSubcategory.
//
// Source: the product codes are those Alibaba Cloud's bills carry for the products of
// its public catalogue (alibabacloud.com/product, grouped there as Compute, Storage,
// Networking & CDN, Databases, Security, Analytics & Big Data, AI & Machine Learning,
// Middleware, Media, Developer Tools, Management & Governance, Migration, IoT); each is
// placed in the FOCUS 1.2 category and subcategory (columns/servicecategory.md,
// servicesubcategory.md) that best fits its primary purpose, by this project, not by
// Alibaba. A code not listed is Other / Other (Other), as FOCUS asks.
var products = map[string]service{
	// Compute
	"ecs":          {"Compute", "Virtual Machines"},
	"ecsrs":        {"Compute", "Virtual Machines"}, // ECS reserved instances
	"swas":         {"Compute", "Virtual Machines"}, // Simple Application Server
	"ebm":          {"Compute", "Virtual Machines"}, // ECS Bare Metal
	"ehpc":         {"Compute", "Other (Compute)"},  // Elastic High Performance Computing
	"ens":          {"Compute", "Virtual Machines"}, // Edge Node Service
	"eci":          {"Compute", "Containers"},
	"csk":          {"Compute", "Containers"}, // Container Service for Kubernetes (ACK)
	"cs":           {"Compute", "Containers"},
	"acr":          {"Compute", "Containers"}, // Container Registry
	"fc":           {"Compute", "Serverless Compute"},
	"sae":          {"Compute", "Serverless Compute"},
	"ecd":          {"Compute", "End User Computing"}, // Elastic Desktop Service
	"gws":          {"Compute", "End User Computing"}, // Cloud Phone / workspace
	"batchcompute": {"Compute", "Other (Compute)"},
	"savingplan":   {"Compute", "Other (Compute)"}, // savings plans
	// Storage
	"yundisk":  {"Storage", "Block Storage"}, // EBS cloud disks
	"ebs":      {"Storage", "Block Storage"},
	"snapshot": {"Storage", "Backup Storage"},
	"oss":      {"Storage", "Object Storage"},
	"nas":      {"Storage", "File Storage"},
	"cpfs":     {"Storage", "File Storage"},
	"dbfs":     {"Storage", "File Storage"},
	"hbr":      {"Storage", "Backup Storage"}, // Cloud Backup
	"hdr":      {"Management and Governance", "Disaster Recovery"},
	"sgw":      {"Storage", "Storage Platforms"}, // Cloud Storage Gateway
	"dbs":      {"Storage", "Backup Storage"},    // Database Backup
	// Networking
	"vpc":            {"Networking", "Network Infrastructure"},
	"eip":            {"Networking", "Network Connectivity"},
	"cbwp":           {"Networking", "Network Connectivity"}, // shared bandwidth
	"slb":            {"Networking", "Application Networking"},
	"alb":            {"Networking", "Application Networking"},
	"nlb":            {"Networking", "Application Networking"},
	"nat":            {"Networking", "Network Connectivity"},
	"vpn":            {"Networking", "Network Connectivity"},
	"cen":            {"Networking", "Network Routing"},
	"cbn":            {"Networking", "Network Routing"},
	"expressconnect": {"Networking", "Network Connectivity"},
	"ga":             {"Networking", "Network Routing"},      // Global Accelerator
	"cdt":            {"Networking", "Network Connectivity"}, // Cloud Data Transfer
	"cdn":            {"Networking", "Content Delivery"},
	"dcdn":           {"Networking", "Content Delivery"},
	"dns":            {"Networking", "Network Routing"}, // Alibaba Cloud DNS
	"alidns":         {"Networking", "Network Routing"},
	"pvtz":           {"Networking", "Network Routing"}, // PrivateZone
	"domain":         {"Web", "Other (Web)"},
	// Databases
	"rds":        {"Databases", "Relational Databases"},
	"polardb":    {"Databases", "Relational Databases"},
	"drds":       {"Databases", "Relational Databases"}, // PolarDB-X
	"oceanbase":  {"Databases", "Relational Databases"},
	"redisa":     {"Databases", "Caching"}, // Tair (Redis)
	"kvstore":    {"Databases", "Caching"},
	"dds":        {"Databases", "NoSQL Databases"}, // MongoDB
	"ots":        {"Databases", "NoSQL Databases"}, // Tablestore
	"hbase":      {"Databases", "NoSQL Databases"},
	"lindorm":    {"Databases", "NoSQL Databases"},
	"gdb":        {"Databases", "NoSQL Databases"}, // Graph Database
	"hitsdb":     {"Databases", "Time Series Databases"},
	"gpdb":       {"Databases", "Data Warehouses"}, // AnalyticDB for PostgreSQL
	"ads":        {"Databases", "Data Warehouses"}, // AnalyticDB for MySQL
	"clickhouse": {"Databases", "Data Warehouses"},
	"selectdb":   {"Databases", "Data Warehouses"},
	"dts":        {"Migration", "Data Migration"},
	"dms":        {"Databases", "Other (Databases)"},
	"das":        {"Databases", "Other (Databases)"},
	// Analytics
	"odps":          {"Analytics", "Data Processing"}, // MaxCompute
	"emr":           {"Analytics", "Data Processing"},
	"dataworks":     {"Analytics", "Analytics Platforms"},
	"sc":            {"Analytics", "Streaming Analytics"}, // Realtime Compute for Flink
	"elasticsearch": {"Analytics", "Search"},
	"opensearch":    {"Analytics", "Search"},
	"quickbi":       {"Analytics", "Business Intelligence"},
	"datav":         {"Analytics", "Business Intelligence"},
	"hologres":      {"Analytics", "Analytics Platforms"},
	"dlf":           {"Management and Governance", "Data Governance"}, // Data Lake Formation
	// AI and Machine Learning
	"pai":         {"AI and Machine Learning", "Machine Learning"},
	"learn":       {"AI and Machine Learning", "Machine Learning"},
	"bailian":     {"AI and Machine Learning", "Generative AI"}, // Model Studio
	"dashscope":   {"AI and Machine Learning", "Generative AI"},
	"nls":         {"AI and Machine Learning", "Natural Language Processing"}, // Intelligent Speech
	"alimt":       {"AI and Machine Learning", "Natural Language Processing"}, // Machine Translation
	"ocr":         {"AI and Machine Learning", "Other (AI and Machine Learning)"},
	"imagesearch": {"AI and Machine Learning", "Other (AI and Machine Learning)"},
	"chatbot":     {"AI and Machine Learning", "Bots"},
	// Integration (middleware)
	"ons":         {"Integration", "Messaging"}, // RocketMQ
	"alikafka":    {"Integration", "Messaging"},
	"amqp":        {"Integration", "Messaging"},
	"mns":         {"Integration", "Messaging"},
	"mqtt":        {"Internet of Things", "IoT Platforms"},
	"apigateway":  {"Integration", "API Management"},
	"eventbridge": {"Integration", "Messaging"},
	"fnf":         {"Integration", "Workflow Orchestration"}, // CloudFlow
	"mse":         {"Integration", "Other (Integration)"},
	"edas":        {"Web", "Application Platforms"},
	// Media
	"live": {"Media", "Media Streaming"},
	"vod":  {"Media", "Media Streaming"},
	"mts":  {"Media", "Content Creation"}, // Media Processing
	"rtc":  {"Media", "Media Streaming"},
	"imm":  {"Media", "Other (Media)"},
	"vs":   {"Media", "Media Streaming"}, // Video Surveillance
	// Security and identity
	"waf":         {"Security", "Threat Detection and Response"},
	"ddos":        {"Networking", "Network Security"},
	"ddoscoo":     {"Networking", "Network Security"},
	"sas":         {"Security", "Security Posture Management"}, // Security Center
	"cloudfw":     {"Networking", "Network Security"},
	"kms":         {"Security", "Secret Management"},
	"cas":         {"Security", "Secret Management"}, // SSL certificates
	"bastionhost": {"Security", "Other (Security)"},
	"green":       {"Security", "Other (Security)"}, // Content Moderation
	"ram":         {"Identity", "Identity and Access Management"},
	"idaas":       {"Identity", "Identity and Access Management"},
	"cloudsso":    {"Identity", "Identity and Access Management"},
	// Management and governance
	"sls":         {"Management and Governance", "Observability"}, // Simple Log Service
	"cms":         {"Management and Governance", "Observability"}, // CloudMonitor
	"arms":        {"Management and Governance", "Observability"},
	"xtrace":      {"Management and Governance", "Observability"},
	"actiontrail": {"Management and Governance", "Compliance"},
	"config":      {"Management and Governance", "Compliance"},
	"oos":         {"Management and Governance", "Other (Management and Governance)"},
	"ros":         {"Management and Governance", "Architecture"},
	"support":     {"Management and Governance", "Support"},
	"bss":         {"Management and Governance", "Cost Management"},
	// Developer tools, IoT, mobile, migration
	"codeup":  {"Developer Tools", "Source Code Management"},
	"rdc":     {"Developer Tools", "Continuous Integration and Deployment"}, // Apsara DevOps
	"pts":     {"Developer Tools", "Quality Assurance"},
	"emas":    {"Mobile", "Other (Mobile)"},
	"iot":     {"Internet of Things", "IoT Platforms"},
	"linkwan": {"Internet of Things", "IoT Platforms"},
	"smc":     {"Migration", "Resource Migration"},                        // Server Migration Center
	"dm":      {"Business Applications", "Other (Business Applications)"}, // Direct Mail
	"sms":     {"Business Applications", "Other (Business Applications)"}, // Short Message Service
	"dysms":   {"Business Applications", "Other (Business Applications)"},
}

// serviceOf is the product's FOCUS service, Other / Other (Other) for a code not listed.
func serviceOf(productCode string) service {
	if s, ok := products[productCode]; ok {
		return s
	}
	return service{"Other", "Other (Other)"}
}
