/// What the request parser returns, one piece at a time: a head, zero or more body pieces, an end.
public enum HTTPRequestPart: Sendable, Equatable {
    case head(HTTPRequestHead)
    /// Decoded body bytes (chunk framing removed): a slice of the parser's input buffer, not a copy.
    case body(ArraySlice<UInt8>)
    /// The message is complete; `trailers` holds the chunked trailer fields (empty otherwise).
    case end(trailers: HTTPHeaders)
}
