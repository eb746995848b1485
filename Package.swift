// swift-tools-version:6.1
import PackageDescription

/// Strict settings from the first commit (STYLE.md lesson 17).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "CareLedger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "careledger", targets: ["careledger"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "Node", targets: ["Node"]),
    ],
    // Exact versions, so that every node of a consortium builds the same code (docs/architecture.md,
    // "Dependency versions", says how to move them).
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/vapor/multipart-kit.git", exact: "4.7.1"),
    ],
    targets: [
        // Pure core: hashes, keys, canonical encoding, transactions, blocks, Merkle log, verifier. No I/O.
        .target(
            name: "LedgerCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Deterministic state machines over a StateView. No I/O.
        .target(
            name: "Contracts",
            dependencies: ["LedgerCore"],
            swiftSettings: strict
        ),
        // Record encryption (AES-256-GCM), HPKE key wrapping, passphrase-sealed secrets, blind index tokens.
        .target(
            name: "Vault",
            dependencies: [
                "LedgerCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // LedgerStore and VaultStore protocols and their SQLite (GRDB) implementations.
        .target(
            name: "Storage",
            dependencies: ["LedgerCore", "Vault", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // FHIR R4: JSON checks, resource types, search parameters, the search indexer, OperationOutcome, Bundles.
        .target(
            name: "FHIR",
            dependencies: ["LedgerCore", "Contracts", "Vault"],
            exclude: ["Tables"],
            swiftSettings: strict,
            plugins: ["EmbedTables"]
        ),
        // The tables scripts/ generates from the FHIR standard are data (FHIR/Tables/*.tsv); this plugin and its
        // tool compile each into an `enum <Name> { static let table }` at build time.
        .plugin(name: "EmbedTables", capability: .buildTool(), dependencies: ["embed-table"]),
        .executableTarget(name: "embed-table", swiftSettings: strict),
        // Orderer protocol, the SoloOrderer, and the etcd client the consortium's orderer builds on.
        .target(
            name: "Ordering",
            dependencies: [
                "LedgerCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Mempool, executor, commit pipeline.
        .target(
            name: "Node",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Ordering", "Vault", "FHIR",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Every workflow once: LedgerClient (sign · submit · await), records, consent, each contract's commands and read
        // models, access rules, import, the FHIR facade. The CLI, the HTTP server, the demo and the benches call these.
        .target(
            name: "Services",
            dependencies: [
                "LedgerCore", "Contracts", "Vault", "Storage", "Node", "FHIR", "Ordering",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A local consortium for development and fault drills: etcd members and one node per organization as processes.
        .target(
            name: "ConsortiumNetwork",
            dependencies: [
                "LedgerCore", "Contracts", "Services", "Server", "Node", "Ordering", "Storage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Terminal output shared by the command line, the demo and the benches: lines, JSON, progress bars.
        .target(name: "Console", swiftSettings: strict),
        // The web portal at /portal (docs/portal.md): mustache pages over the services, a little plain JavaScript
        // (proofs verified in the browser, browser-held keys), no build step. Its files are embedded in the binary.
        .target(
            name: "Portal",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Node", "FHIR", "Services",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [
                .embedInCode("Assets/layout.mustache"), .embedInCode("Assets/signin.mustache"), .embedInCode("Assets/explorer.mustache"),
                .embedInCode("Assets/error.mustache"), .embedInCode("Assets/portal.css"), .embedInCode("Assets/verify.js"),
                .embedInCode("Assets/explorer.js"), .embedInCode("Assets/signin.js"), .embedInCode("Assets/verifier-vectors.json"),
                .embedInCode("Assets/patient.mustache"), .embedInCode("Assets/consents.mustache"), .embedInCode("Assets/access-log.mustache"),
                .embedInCode("Assets/canonical.js"), .embedInCode("Assets/patient-keys.js"), .embedInCode("Assets/patient-signin.js"),
                .embedInCode("Assets/patient.js"), .embedInCode("Assets/tx-vectors.json"),
                .embedInCode("Assets/anomalies.mustache"), .embedInCode("Assets/network.mustache"),
                .embedInCode("Assets/clinician.mustache"), .embedInCode("Assets/clinician-patient.mustache"),
                .embedInCode("Assets/clinician-record.mustache"), .embedInCode("Assets/clinician-prescription.mustache"),
                .embedInCode("Assets/records.mustache"), .embedInCode("Assets/record-crypto.js"), .embedInCode("Assets/record-vectors.json"),
                .embedInCode("Assets/claims.mustache"), .embedInCode("Assets/trials.mustache"),
                .embedInCode("Assets/payer.mustache"), .embedInCode("Assets/pharmacy.mustache"), .embedInCode("Assets/staff.js"),
                .embedInCode("Assets/handover.mustache"),
            ],
            swiftSettings: strict
        ),
        // HTTP: /v1 JSON API, CT-shaped proof API, auth (SMART Backend Services tokens), metrics; mounts the portal.
        .target(
            name: "Server",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Node", "FHIR", "Vault", "Services", "Portal",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The end-to-end story, written against the services.
        .target(
            name: "Demo",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Node", "Vault", "Server", "Portal", "FHIR", "Services", "Console", "ConsortiumNetwork",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks: each measures its limit in the same run and prints the ratio.
        .target(
            name: "Bench",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Node", "Vault", "Server", "Portal", "FHIR", "Services", "Console", "Demo", "ConsortiumNetwork",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The command line: argument parsing and rendering over the services.
        .executableTarget(
            name: "careledger",
            dependencies: [
                "LedgerCore", "Contracts", "Storage", "Node", "Vault", "Server", "Portal", "FHIR", "Services", "Console", "Demo", "Bench",
                "ConsortiumNetwork",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore"], resources: [.copy("Vectors")], swiftSettings: strict),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts", "LedgerCore"], resources: [.copy("Vectors")], swiftSettings: strict),
        .testTarget(name: "FHIRTests", dependencies: ["FHIR", "Vault", "LedgerCore"], swiftSettings: strict),
        .testTarget(name: "VaultTests", dependencies: ["Vault", "LedgerCore"], swiftSettings: strict),
        .testTarget(name: "StorageTests", dependencies: [
            "Storage", "LedgerCore", "Vault", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        .testTarget(name: "OrderingTests", dependencies: ["Ordering", "LedgerCore", "Node", "Contracts", "Storage"], swiftSettings: strict),
        .testTarget(name: "NodeTests", dependencies: [
            "Node", "Contracts", "Storage", "Ordering", "LedgerCore", "Vault", "Services", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Services", "Node", "Storage", "Contracts", "LedgerCore", "FHIR", "Vault",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], swiftSettings: strict),
        // The deterministic simulator (TigerBeetle's VOPR): one node over in-memory stores and a
        // simulated clock, driven from a seed, with injected faults and invariants checked each step.
        .testTarget(name: "SimulationTests", dependencies: ["Node", "Storage", "Contracts", "LedgerCore", "Vault", "Ordering", "Services"],
                    path: "Tests/Simulation", swiftSettings: strict),
        // Builds and runs the libFuzzer targets in Fuzz/ for a short while (Fuzz/run --short).
        .testTarget(name: "FuzzTests", swiftSettings: strict),
        // The portal's routes in process, its verifier's vectors against the Swift verifier, and a headless-Chromium test.
        .testTarget(name: "PortalTests", dependencies: [
            "Portal", "Server", "Services", "Node", "Storage", "Contracts", "LedgerCore", "Vault", "FHIR",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], exclude: ["browser"], swiftSettings: strict),
        .testTarget(name: "CareledgerTests", dependencies: [
            "careledger", "Node", "Storage", "LedgerCore", "Vault", "Server", "Services", "Contracts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
