// swift-tools-version:6.0
import PackageDescription

/// Gatehouse: a reverse-proxy security gateway for MCP servers.
/// No package dependencies: the toolchain plus the system OpenSSL 3.
let package = Package(
    name: "gatehouse",
    products: [
        .executable(name: "gatehouse", targets: ["gatehouse"])
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "CGatehouseShims", dependencies: ["COpenSSL"]),
        .target(name: "GatehouseHTTP"),
        .target(name: "GatehouseJSON"),
        .target(name: "GatehouseTOML"),
        .target(name: "GatehouseCrypto", dependencies: ["COpenSSL", "CGatehouseShims"]),
        .target(name: "GatehousePolicy", dependencies: ["GatehouseHTTP", "GatehouseJSON", "GatehouseCrypto"]),
        .target(name: "GatehouseConfig", dependencies: ["GatehouseTOML", "GatehousePolicy", "GatehouseCrypto"]),
        .target(name: "GatehousePosix", dependencies: ["GatehouseHTTP", "CGatehouseShims", "COpenSSL"]),
        .target(
            name: "GatehouseServer",
            dependencies: [
                "GatehouseHTTP", "GatehouseJSON", "GatehousePolicy", "GatehouseConfig",
                "GatehouseCrypto", "GatehousePosix",
            ]),
        .executableTarget(name: "gatehouse", dependencies: ["GatehouseServer", "GatehouseConfig"]),
        // Fuzz targets (fuzz/run.sh builds them with -sanitize=fuzzer,address -DGATEHOUSE_FUZZ; a plain
        // build makes replayers of saved inputs) and the HTTP parser tool of the h11 differential test.
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["FuzzSupport", "GatehouseHTTP"]),
        .executableTarget(name: "FuzzHTTPResponse", dependencies: ["FuzzSupport", "GatehouseHTTP"]),
        .executableTarget(name: "FuzzJSON", dependencies: ["FuzzSupport", "GatehouseJSON"]),
        .executableTarget(name: "FuzzTOML", dependencies: ["FuzzSupport", "GatehouseTOML"]),
        .executableTarget(
            name: "FuzzJWT", dependencies: ["FuzzSupport", "GatehousePolicy", "GatehouseCrypto", "GatehouseJSON"]),
        .executableTarget(name: "FuzzBase64URL", dependencies: ["FuzzSupport", "GatehouseCrypto"]),
        .executableTarget(name: "HTTPParseTool", dependencies: ["GatehouseHTTP", "GatehouseJSON"]),
        .testTarget(name: "GatehouseHTTPTests", dependencies: ["GatehouseHTTP"]),
        .testTarget(name: "GatehouseJSONTests", dependencies: ["GatehouseJSON"]),
        .testTarget(name: "GatehouseTOMLTests", dependencies: ["GatehouseTOML"]),
        .testTarget(name: "GatehouseCryptoTests", dependencies: ["GatehouseCrypto"]),
        .testTarget(name: "GatehousePolicyTests", dependencies: ["GatehousePolicy"], exclude: ["Fixtures"]),
        .testTarget(name: "GatehouseConfigTests", dependencies: ["GatehouseConfig"]),
        .testTarget(name: "GatehousePosixTests", dependencies: ["GatehousePosix"]),
        .testTarget(name: "GatehouseServerTests", dependencies: ["GatehouseServer", "GatehousePosix"]),
    ]
)
