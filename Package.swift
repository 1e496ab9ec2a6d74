// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

/// What the tests that run against PostgreSQL (and their support library) import.
let storeTestDependencies: [Target.Dependency] = [
    "EventStore", "Exports", "PostgresClient", "GrantDomain", "Ledger", "Projections", "GrantLedgerHTTP",
    "Transparency", "PersonalDataKeys", "Witnessing",
    .product(name: "Crypto", package: "swift-crypto"),
    .product(name: "Hummingbird", package: "hummingbird"),
    .product(name: "HummingbirdTesting", package: "hummingbird"),
    .product(name: "HTTPTypes", package: "swift-http-types"),
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "Logging", package: "swift-log"),
]

let package = Package(
    name: "grantledger",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "grantledger", targets: ["GrantLedgerCLI"]),
        .executable(name: "grantledger-benchmark", targets: ["GrantLedgerBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "PostgresClient",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Transparency",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: swiftSettings
        ),
        // A C2SP tlog-witness (the service a grantee or the EU Delegation runs) and the log's
        // side of it: asking a policy's witnesses to cosign checkpoints.
        .target(
            name: "Witnessing",
            dependencies: [
                "Transparency",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EventStore",
            dependencies: [
                "PostgresClient", "Transparency",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GrantDomain",
            swiftSettings: swiftSettings,
            plugins: ["CommandTablePlugin"]
        ),
        .executableTarget(
            name: "CommandTableGenerator",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "CommandTablePlugin",
            capability: .buildTool(),
            dependencies: ["CommandTableGenerator"]
        ),
        .target(
            name: "Ledger",
            dependencies: [
                "EventStore", "GrantDomain", "PersonalDataKeys", "PostgresClient", "Transparency",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PersonalDataKeys",
            dependencies: [
                "EventStore", "GrantDomain", "PostgresClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Projections",
            dependencies: [
                "EventStore", "GrantDomain", "PersonalDataKeys", "PostgresClient", "Transparency",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Exports",
            dependencies: [
                "GrantDomain", "EventStore", "PostgresClient", "Projections",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GrantLedgerHTTP",
            dependencies: [
                "CMalloc", "EventStore", "Exports", "GrantDomain", "Ledger", "Projections", "PostgresClient",
                "Transparency",
                "Witnessing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("openapi.json")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GrantLedgerCLI",
            dependencies: [
                "EventStore", "Exports", "GrantDomain", "Ledger", "Projections", "PostgresClient", "GrantLedgerHTTP",
                "PersonalDataKeys",
                "Transparency", "Witnessing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GrantLedgerBenchmark",
            dependencies: [
                "EventStore", "PostgresClient", "GrantDomain", "PersonalDataKeys", "Projections", "Transparency",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GrantDomainTests",
            dependencies: ["GrantDomain"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TransparencyTests",
            dependencies: [
                "Transparency",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the database and system tests share: test databases copied from one migrated
        // template, the CLI and the server as child processes, fixtures, validators.
        .target(
            name: "TestSupport",
            dependencies: storeTestDependencies,
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        // Everything that touches the store, against a real PostgreSQL (deploy/test.sh --fast).
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TestSupport"] + storeTestDependencies,
            swiftSettings: swiftSettings
        ),
        // The whole system: killed processes and clusters, a hot standby, a real browser,
        // systemd; left out by deploy/test.sh --fast, run by .ci/run.
        .testTarget(
            name: "SystemTests",
            dependencies: ["TestSupport"] + storeTestDependencies,
            swiftSettings: swiftSettings
        ),
    ]
)
