import ArgumentParser
import Foundation
import GrantLedgerHTTP
import Hummingbird
import Logging
import Transparency
import Witnessing

/// `grantledger witness keygen|serve`: a C2SP tlog-witness, for whoever wants to vouch that
/// the log shows everyone one history (the EU Delegation, a grantee consortium, an auditor).
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Run a C2SP tlog-witness that cosigns the log's checkpoints when the log only grew.",
        discussion: """
            A witness remembers the last checkpoint it cosigned for each log it knows and \
            cosigns a new one only with a consistency proof from it (c2sp.org/tlog-witness, \
            Ed25519 cosignature/v1). The log's server asks it (serve --witness-policy); \
            verifiers require its cosignature with audit check --policy.
            """,
        subcommands: [WitnessKeygen.self, WitnessServe.self])
}

/// `grantledger witness keygen --name NAME --out FILE`.
struct WitnessKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a witness's Ed25519 cosigning key; print its verifier key.",
        discussion: """
            Writes the private key to --out (mode 600; an existing file is never overwritten) and \
            prints the verifier key, NAME+ID+KEY (signature type 0x04), for the log's and the \
            verifiers' policy files. The name identifies the witness, e.g. \
            witness.eu-delegation.example/1.
            """)

    @Option(help: "The witness's name: printable, no spaces, no '+'.") var name: String
    @Option(help: "The private key file to create.") var out: String

    func validate() throws {
        do { _ = try CosignatureSigner(generatingNamed: name) } catch { throw ValidationError("--name: \(error)") }
    }

    func run() async throws {
        let signer = try CosignatureSigner(generatingNamed: name)
        try createSecretFile(out, signer.privateKeyText + "\n")
        print(signer.verifier.text)
    }
}

/// `grantledger witness serve --key FILE --log-verifier-key VKEY --state DIR`.
struct WitnessServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve POST <prefix>/add-checkpoint (c2sp.org/tlog-witness); SIGTERM stops it.",
        discussion: """
            Answers 200 with its cosignature, 400 for a malformed request, 403 when no trusted \
            key signed the checkpoint, 404 for a log it does not know, 409 (text/x.tlog.size, \
            the size it last cosigned) when the old size is not that size or another tree of \
            that size was cosigned, 422 when the consistency proof does not verify. The state \
            (DIR/state.json) is written and flushed before a cosignature is returned; one \
            witness at a time holds DIR.
            """)

    @Option(help: "The witness's private key file (grantledger witness keygen).") var key: String
    @Option(
        name: .customLong("log-verifier-key"),
        help:
            "A log's verifier key (NAME+HASH+KEY, grantledger audit keygen), or a file holding it; repeat for several logs."
    )
    var logVerifierKeys: [String]
    @Option(help: "The state directory (made if missing, mode 700).") var state: String
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8090
    @Option(help: "The submission prefix: requests go to PREFIX/add-checkpoint.") var prefix = ""
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        guard !logVerifierKeys.isEmpty else { throw ValidationError("give the log's key with --log-verifier-key") }
        guard prefix.isEmpty || ServerConfiguration.isTilePrefix(prefix) else {
            throw ValidationError("--prefix must be empty or start with / and use only letters, digits and - . _ ~ /")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not a level")
        }
    }

    func run() async throws {
        let signer: CosignatureSigner
        do {
            signer = try CosignatureSigner(privateKey: try readSecretFile(key, "the witness key"))
        } catch let error as TransparencyError {
            throw ValidationError("the witness key \(key) is not a witness key: \(error)")
        }
        let logs = try logVerifierKeys.map(readVerifierKey)
        let witnessState: WitnessState
        do { witnessState = try WitnessState(directory: state) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        var logger = Logger(label: "grantledger-witness")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let witness = Witness(signer: signer, logs: logs, state: witnessState)
        logger.info(
            "witness \(signer.name) for \(logs.map(\.name).joined(separator: ", "))",
            metadata: ["verifierKey": "\(signer.verifier.text)"])
        let app = Application(
            router: witness.router(prefix: prefix, logger: logger),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: "grantledger-witness"),
            logger: logger)
        try await app.runService()
    }
}
