/// What the response parser returns, one piece at a time: a head, zero or more body pieces, an end.
public enum HTTPResponsePart: Sendable, Equatable {
    case head(HTTPResponseHead)
    /// Decoded body bytes (chunk framing removed): a slice of the parser's input buffer, not a copy.
    case body(ArraySlice<UInt8>)
    /// The response is complete; `trailers` holds the chunked trailer fields (empty otherwise).
    case end(trailers: HTTPHeaders)
}
