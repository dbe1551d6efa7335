import GatehouseJSON
import GatehousePosix

extension MCPClient {
    /// Every tool of the upstream that `state` describes, for a command-line caller (`gatehouse pin`):
    /// a private event loop runs on the caller's thread until the listing (session opening and every
    /// page) is done or `timeoutMilliseconds` passed.
    public static func fetchTools(
        state: GatewayState, endpointPath: String, timeoutMilliseconds: Int64
    ) -> MCPClientResult<[JSONValue]> {
        let loop: EventLoop
        do {
            loop = try EventLoop(index: 0)
        } catch {
            return .unavailable(reason: "cannot make an event loop: \(error)")
        }
        let client = MCPClient(loop: loop, state: state, endpointPath: endpointPath)
        var outcome: MCPClientResult<[JSONValue]>?
        client.listTools(timeoutMilliseconds: timeoutMilliseconds) { result in
            outcome = result
            loop.stop()
        }
        if outcome == nil { loop.run() }
        client.close()
        return outcome ?? .unavailable(reason: "the event loop stopped before the upstream answered")
    }
}
