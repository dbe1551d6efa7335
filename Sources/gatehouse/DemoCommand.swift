import GatehouseConfig
import GatehouseCrypto
import GatehousePosix
import GatehouseServer
import Glibc

/// `gatehouse demo`: the built-in sample MCP server with the gateway in front of it and a fresh API key.
enum DemoCommand {
    static func run(_ args: [String]) -> Int32 {
        var port: UInt16 = 8443
        do {
            try CommandLineInterface.checkArguments(args, flags: ["--port"])
            if let p = try CommandLineInterface.option("--port", in: args) {
                guard let n = UInt16(p), n > 0 else { throw UsageError("--port expects a port number 1-65535") }
                port = n
            }
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        ProcessSignal.blockAndIgnorePipe()
        let key = "gh_" + Encoding.base64URL(SecureRandom.bytes(32))
        // A fresh self-signed certificate in a private temporary folder, removed on exit.
        var template = Array("/tmp/gatehouse-demo-XXXXXX".utf8CString)
        guard let dirPointer = mkdtemp(&template) else {
            return CommandLineInterface.fail("demo: cannot create a temporary folder", code: 1)
        }
        let dir = String(cString: dirPointer)
        defer {
            for file in ["cert.pem", "key.pem"] { unlink(dir + "/" + file) }
            rmdir(dir)
        }
        do {
            let certificate = try SelfSignedCertificate.write(to: dir)
            let demo = try Gateway.bindDemoServer()
            var config = GatewayConfig()
            config.server.listen = ListenAddress(host: "127.0.0.1", port: port)
            config.server.drainTimeout = .seconds(5)
            config.tls.cert = certificate.certificatePath
            config.tls.key = certificate.keyPath
            config.upstream.url = UpstreamURL(
                scheme: .http, host: "127.0.0.1", port: demo.address.port, authority: "127.0.0.1:\(demo.address.port)")
            config.auth.apiKeys = [APIKeyConfig(name: "demo", digest: Digest.sha256(Array(key.utf8)), permissions: ["*"])]
            config.admin.listen = nil
            let gateway = try Gateway(config: config)
            gateway.attachDemoServer(fd: demo.fd)
            let url = "https://127.0.0.1:\(gateway.boundAddress.port)/mcp"
            let call = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello through the gateway"}}}"#
            let banner = """
                Gatehouse demo: a sample MCP server (tools echo, add, slow) behind the gateway.
                  MCP endpoint: \(url)
                  API key:      \(key)
                  Try it:
                    curl -s --cacert \(certificate.certificatePath) \(url) -H 'Authorization: Bearer \(key)' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '\(call)'
                  Certificate:  \(certificate.certificatePath) (self-signed, for this run only)
                  Without the key the gateway answers 401. Ctrl-C stops. Security and access log lines follow on stdout.
                """
            return RunCommand.serve(gateway, config: config, reload: { config }, banner: banner)
        } catch let e as GatewayStartError {
            return CommandLineInterface.fail(e.message, code: 1)
        } catch {
            return CommandLineInterface.fail("demo: \(error)", code: 1)
        }
    }
}
