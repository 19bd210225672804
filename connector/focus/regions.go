package focus

import "strings"

// regions are Alibaba Cloud's region IDs with the names its bills use for them (the
// China site's and the international site's). Source: Alibaba Cloud's "Regions and
// zones" list (the IDs of DescribeRegions).
var regions = map[string][]string{
	"cn-qingdao":     {"华北1（青岛）", "China (Qingdao)"},
	"cn-beijing":     {"华北2（北京）", "China (Beijing)"},
	"cn-zhangjiakou": {"华北3（张家口）", "China (Zhangjiakou)"},
	"cn-huhehaote":   {"华北5（呼和浩特）", "China (Hohhot)"},
	"cn-wulanchabu":  {"华北6（乌兰察布）", "China (Ulanqab)"},
	"cn-hangzhou":    {"华东1（杭州）", "China (Hangzhou)"},
	"cn-shanghai":    {"华东2（上海）", "China (Shanghai)"},
	"cn-nanjing":     {"华东5（南京-本地地域）", "China (Nanjing - Local Region)"},
	"cn-fuzhou":      {"华东6（福州-本地地域）", "China (Fuzhou - Local Region)"},
	"cn-wuhan-lr":    {"华中1（武汉-本地地域）", "China (Wuhan - Local Region)"},
	"cn-shenzhen":    {"华南1（深圳）", "China (Shenzhen)"},
	"cn-heyuan":      {"华南2（河源）", "China (Heyuan)"},
	"cn-guangzhou":   {"华南3（广州）", "China (Guangzhou)"},
	"cn-chengdu":     {"西南1（成都）", "China (Chengdu)"},
	"cn-hongkong":    {"中国香港", "China (Hong Kong)", "香港"},
	"ap-northeast-1": {"日本（东京）", "Japan (Tokyo)"},
	"ap-northeast-2": {"韩国（首尔）", "South Korea (Seoul)"},
	"ap-southeast-1": {"新加坡", "Singapore"},
	"ap-southeast-2": {"澳大利亚（悉尼）", "Australia (Sydney)"},
	"ap-southeast-3": {"马来西亚（吉隆坡）", "Malaysia (Kuala Lumpur)"},
	"ap-southeast-5": {"印度尼西亚（雅加达）", "Indonesia (Jakarta)"},
	"ap-southeast-6": {"菲律宾（马尼拉）", "Philippines (Manila)"},
	"ap-southeast-7": {"泰国（曼谷）", "Thailand (Bangkok)"},
	"ap-south-1":     {"印度（孟买）", "India (Mumbai)"},
	"us-east-1":      {"美国（弗吉尼亚）", "US (Virginia)"},
	"us-west-1":      {"美国（硅谷）", "US (Silicon Valley)"},
	"eu-west-1":      {"英国（伦敦）", "UK (London)"},
	"eu-central-1":   {"德国（法兰克福）", "Germany (Frankfurt)"},
	"me-east-1":      {"阿联酋（迪拜）", "UAE (Dubai)"},
	"me-central-1":   {"沙特（利雅得）", "Saudi Arabia (Riyadh)"},
}

// regionByName is the region ID of each name.
var regionByName = func() map[string]string {
	m := map[string]string{}
	for id, names := range regions {
		for _, n := range names {
			m[n] = id
		}
	}
	return m
}()

// region is the row's RegionId and RegionName, from its Region (a region's name, or its
// ID) and else its Zone (a zone's ID is its region's ID and a letter: cn-hangzhou-h,
// ap-southeast-1a). A region known neither way is null, both columns (FOCUS: RegionName
// is null exactly when RegionId is); x_Region keeps what the API wrote.
func region(name, zone string) (id, display string) {
	name = strings.TrimSpace(name)
	if id, ok := regionByName[name]; ok {
		return id, name
	}
	if names, ok := regions[name]; ok {
		return name, names[0]
	}
	if id := regionOfZone(zone); id != "" {
		if name == "" {
			name = regions[id][0]
		}
		return id, name
	}
	return "", ""
}

// regionOfZone is the known region a zone ID is in, "" when none.
func regionOfZone(zone string) string {
	for id := range regions {
		if rest, ok := strings.CutPrefix(zone, id); ok && rest != "" && len(rest) <= 3 &&
			strings.Trim(rest, "-abcdefghijklmnopqrstuvwxyz") == "" {
			return id
		}
	}
	return ""
}
