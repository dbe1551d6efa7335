/// Size limits applied while parsing (contract §2 `server.max_header_bytes`, `server.max_body_bytes`).
public struct HTTPLimits: Sendable, Equatable {
    /// The whole head, request line and final empty line included; above it → 431. Trailers get the
    /// same limit of their own.
    public var maxHeaderBytes: Int = 16384
    /// Header fields in the head (or in the trailers); above it → 431.
    public var maxHeaderCount: Int = 100
    /// Request body, by Content-Length or by the chunked total; above it → 413. Ignored for responses.
    public var maxBodyBytes: Int = 1 << 20
    /// Extensions on one chunk-size line; above it → 400.
    public var maxChunkExtensionBytes: Int = 1024

    public init(
        maxHeaderBytes: Int = 16384, maxBodyBytes: Int = 1 << 20, maxHeaderCount: Int = 100,
        maxChunkExtensionBytes: Int = 1024
    ) {
        self.maxHeaderBytes = max(0, maxHeaderBytes)
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.maxHeaderCount = max(0, maxHeaderCount)
        self.maxChunkExtensionBytes = max(0, maxChunkExtensionBytes)
    }
}
