/// `gatehouse demo`: filled in when the demo MCP server lands.
enum DemoCommand {
    static func run(_ args: [String]) -> Int32 {
        CommandLineInterface.fail("demo is not built yet", code: 1)
    }
}
