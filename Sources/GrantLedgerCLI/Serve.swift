import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import GrantLedgerHTTP
import Hummingbird
import Logging
import PostgresClient
import Transparency
import Witnessing

/// `grantledger serve`: the HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API (Hummingbird); SIGTERM drains requests and stops.",
        discussion:
            "See /openapi.json for the endpoints. Every route but /healthz, /readyz and /openapi.json needs a bearer token (grantledger token create)."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Most database connections at once.") var maxConnections = 16
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "text (the default), or json: one JSON object per line, for log shippers.")
    var logFormat: LogFormat = .text
    @Option(help: "Also serve GET /metrics on this port, on 127.0.0.1 only and without a token.")
    var metricsPort: Int?
    @Option(
        name: .customLong("read-database-url"),
        help: ArgumentHelp(
            "A hot standby for reads (reports, lists, shows, events, proofs); repeat for several. Default: GRANTLEDGER_READ_DATABASE_URL (comma-separated), which keeps passwords off the command line.",
            valueName: "url"))
    var readDatabaseURLs: [String] = []
    @Option(
        help:
            "Seconds between recomputations of every read model from the log, compared row by row with its tables (/metrics, /readyz); 0 turns them off."
    )
    var readModelCheckInterval = 3600
    @Option(help: "Seconds after which an HTTP connection that sends nothing (idle, or a request half sent) is closed.")
    var idleTimeout = 30
    @Option(
        help: """
            Where the log is published as C2SP tlog-tiles, without a token: PREFIX/checkpoint, \
            PREFIX/tile/<L>/<N>[.p/<W>], PREFIX/tile/entries/<N>[.p/<W>].
            """)
    var tilePrefix = "/log"
    @Option(
        help: """
            A c2sp.org/tlog-policy file naming this log, its witnesses with their URLs and the \
            quorum: each new checkpoint goes to the witnesses, and only one the quorum cosigned \
            is published (needs --log-key).
            """)
    var witnessPolicy: String?
    @Option(
        help:
            "Seconds between two checkpoints of a growing log (1-60); with --witness-policy, also between rounds of requests to the witnesses."
    )
    var checkpointInterval = 5
    @OptionGroup(title: "Database") var database: DatabaseOptions
    @OptionGroup(title: "Transparency log") var log: LogKeyOptions
    @OptionGroup(title: "Confidential organisations") var pseudonymKey: PseudonymKeyOptions

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        if let metricsPort {
            guard (1...65535).contains(metricsPort), metricsPort != port else {
                throw ValidationError("--metrics-port must be 1-65535 and not --port")
            }
        }
        for url in readDatabaseURLs where url.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            throw ValidationError("--read-database-url must not contain control characters")
        }
        guard readModelCheckInterval >= 0 else {
            throw ValidationError("--read-model-check-interval must be 0 or more")
        }
        guard (1...3600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be 1-3600 seconds") }
        guard (1...60).contains(checkpointInterval) else {
            throw ValidationError("--checkpoint-interval must be 1-60 seconds")
        }
        guard ServerConfiguration.isTilePrefix(tilePrefix) else {
            throw ValidationError(
                "--tile-prefix must start with /, not end with one, use only letters, digits and - . _ ~ /, and not be under /v1"
            )
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not a level")
        }
    }

    /// The standbys: the options, else the environment's comma-separated list.
    var readConninfos: [String] {
        if !readDatabaseURLs.isEmpty { return readDatabaseURLs }
        let listed = ProcessInfo.processInfo.environment["GRANTLEDGER_READ_DATABASE_URL"] ?? ""
        return listed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        // Before the first threads allocate (docs/performance.md, "Malloc arenas").
        MallocArenas.apply(
            environment: ProcessInfo.processInfo.environment,
            processors: ProcessInfo.processInfo.activeProcessorCount)
        var configuration = ServerConfiguration(
            host: host, port: port, conninfo: database.conninfo, maxConnections: maxConnections,
            logSigner: try log.signer(), metricsPort: metricsPort, readConninfos: readConninfos)
        configuration.readModelCheckInterval = .seconds(readModelCheckInterval)
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.tilePrefix = tilePrefix
        configuration.checkpointInterval = .seconds(checkpointInterval)
        configuration.pseudonyms = try pseudonymKey.pseudonyms()
        if let witnessPolicy {
            guard let signer = configuration.logSigner else {
                throw ValidationError("--witness-policy needs the log's key: --log-key FILE or GRANTLEDGER_LOG_KEY")
            }
            configuration.witnesses = try loadWitnessCollector(witnessPolicy, log: signer.verifier)
        }
        var logger =
            switch logFormat {
            case .text: Logger(label: "grantledger")
            case .json: Logger(label: "grantledger") { JSONLogHandler(label: $0) }
            }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let app = buildApplication(
            configuration,
            logger: logger)
        try await app.runService()
    }
}

/// `grantledger token create|revoke`.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage API bearer tokens (stored only as hashes).",
        subcommands: [TokenCreate.self, TokenRevoke.self])
}

extension Role: ExpressibleByArgument {}

struct TokenCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a token and print its secret once.",
        discussion:
            "Tokens are written as the database owner, through the migration role; the application role only reads them."
    )
    @Option(help: "manager, auditor, viewer or grantee.") var role: Role
    @Option(help: "A unique name; it becomes the actor of events the token records.") var name: String
    @Option(
        help:
            "For --role grantee (and only then): the registered organisation the token acts for; it may record activities under the grants it leads."
    )
    var organisation: String?
    @OptionGroup(title: "Database") var database: OwnerDatabaseOptions

    func validate() throws {
        if role == .grantee, organisation == nil {
            throw ValidationError("--role grantee needs --organisation ORG: the organisation the token acts for")
        }
        if role != .grantee, organisation != nil {
            throw ValidationError("--organisation is for --role grantee only")
        }
        guard (1...64).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) })
        else {
            throw ValidationError("--name must be 1-64 letters, digits, '.', '_' or '-'")
        }
    }

    func run() async throws {
        do {
            let secret = try await withDatabaseErrors {
                let connection = try await database.connectAsOwner()
                if let organisation {
                    // Bound to a registered organisation only: one that the log knows.
                    let known = try await StoreSession(connection: connection).stream(
                        Streams.organisation(organisation))
                    guard !known.isEmpty else {
                        printError("error: organisation \"\(organisation)\" is not registered")
                        throw ExitCode(ExitStatus.notFound)
                    }
                }
                return try await TokenStore.create(
                    name: name, role: role, organisationId: organisation, on: connection)
            }
            print(secret)
        } catch let error as TokenError {
            printError("error: \(error)")
            throw ExitCode(ExitStatus.alreadyExists)
        }
    }
}

struct TokenRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token by name.")
    @Argument(help: "The token's name.") var name: String
    @OptionGroup(title: "Database") var database: OwnerDatabaseOptions

    func run() async throws {
        do {
            try await withDatabaseErrors {
                try await TokenStore.revoke(name: name, on: try await database.connectAsOwner())
            }
            print("revoked \(name)")
        } catch let error as TokenError {
            printError("error: \(error)")
            throw ExitCode(ExitStatus.notFound)
        }
    }
}

/// A policy file for the server: it must name this log (if it names logs) and its quorum
/// must be reachable through the witnesses' URLs.
func loadWitnessCollector(_ path: String, log: NoteVerifier) throws -> WitnessCollector {
    do {
        let policy = try readPolicy(path)
        guard policy.logs.isEmpty || policy.logs.contains(where: { $0.key == log }) else {
            throw TransparencyError("it does not list this log's key, \(log.text)")
        }
        return try WitnessCollector(policy: policy)
    } catch let error as TransparencyError {
        throw ValidationError("--witness-policy \(path): \(error)")
    }
}

/// A c2sp.org/tlog-policy file.
func readPolicy(_ path: String) throws -> WitnessPolicy {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read the policy \(path)")
    }
    do { return try WitnessPolicy(Array(data)) } catch { throw ValidationError("the policy \(path): \(error)") }
}
