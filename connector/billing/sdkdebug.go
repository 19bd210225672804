package billing

import (
	_ "unsafe" // go:linkname

	// The package whose print hook is replaced below; imported for the link, not for use.
	_ "github.com/aliyun/alibaba-cloud-sdk-go/sdk/utils"
)

// The SDK prints signed requests, response bodies and the string it signed (AccessKey ID
// and STS token included) to stdout when the environment holds DEBUG=sdk: each of its
// packages calls utils.Init("sdk") at init, which reads DEBUG once, and the function it
// returns prints through the package variable utils.hookPrint (fmt.Println). The variable
// is read at every call, and nothing exported reaches it, so the connector links to it and
// replaces it with a function that drops everything. No SDK debug text reaches
// stdout or stderr, whatever DEBUG says; the connector's own logs cover what it does.
//
// Should the SDK rename hookPrint, the build fails at link time ("relocation target not
// defined"), and TestSDKDebug_OutputNeverShowsTheToken checks the effect.
//
//go:linkname sdkDebugPrint github.com/aliyun/alibaba-cloud-sdk-go/sdk/utils.hookPrint
var sdkDebugPrint func(string)

func init() { sdkDebugPrint = func(string) {} }
