import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Transparency

/// Flags shared by every command that records something.
struct WriteOptions: ParsableArguments {
    @OptionGroup(title: "Database") var database: DatabaseOptions

    @Option(help: "Who is recording (default: GRANTLEDGER_ACTOR, else the OS user).")
    var actor: String?

    @Option(help: "Idempotency key: a command id already accepted is not applied again.")
    var commandId: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup(title: "Transparency log") var log: LogKeyOptions

    /// `--actor`, else `GRANTLEDGER_ACTOR`, else the OS user name.
    var resolvedActor: String {
        if let actor, !actor.isEmpty { return actor }
        let environment = ProcessInfo.processInfo.environment
        if let value = environment["GRANTLEDGER_ACTOR"], !value.isEmpty { return value }
        return environment["USER"] ?? environment["LOGNAME"] ?? NSUserName()
    }
}

/// The exit code for a §5 error class.
func exitStatus(for code: ErrorCode) -> Int32 {
    switch code {
    case .invalid: return ExitStatus.invalid
    case .notFound: return ExitStatus.notFound
    case .alreadyExists: return ExitStatus.alreadyExists
    case .ruleViolated: return ExitStatus.ruleViolated
    case .conflict: return ExitStatus.conflict
    case .outcomeUnknown: return ExitStatus.database
    }
}

/// `{"error": {"code": ..., "message": ...}}`.
func errorJSON(_ error: DomainError) -> String {
    ResponseJSON.text(ErrorBody(code: error.code.rawValue, message: error.message))
}

/// Prints an accepted command's events (in JSON with a signed receipt each when the log has
/// a key).
func printOutcome(_ outcome: CommandOutcome, format: OutputFormat, signer: NoteSigner?) throws {
    switch format {
    case .json:
        print(ResponseJSON.text(try CommandResult(outcome, signer: signer)))
    case .text:
        print(outcome.replayed ? "already applied (commandId seen before); nothing new recorded:" : "recorded:")
        for event in outcome.events {
            print("  #\(event.position) \(event.type) \(event.streamID) v\(event.streamVersion)")
        }
    }
}

/// Prints a rejection in the chosen format and returns the exit code for it.
func reportRejection(_ error: DomainError, format: OutputFormat) -> ExitCode {
    switch format {
    case .json: print(errorJSON(error))
    case .text: printError("rejected (\(error.code.rawValue)): \(error.message)")
    }
    return ExitCode(exitStatus(for: error.code))
}

/// Parses and applies one command, printing the outcome or the rejection.
func runCommand(_ fields: [String: JSONValue], options: WriteOptions) async throws {
    var fields = fields
    if let commandId = options.commandId { fields["commandId"] = .string(commandId) }
    let request: CommandRequest
    do {
        request = try CommandRequest.parse(.object(fields))
    } catch {
        throw reportRejection(error, format: options.format)
    }
    try await apply(request, options: options)
}

/// Applies a parsed command, printing the outcome or the rejection.
///
/// A command without a command id gets a fresh one, so that an outcome lost with the
/// connection can be settled by re-sending it (`--command-id`, printed in that case).
func apply(_ request: CommandRequest, options: WriteOptions) async throws {
    var request = request
    // A key that cannot sign is refused before anything is recorded.
    let signer = try options.log.signer()
    if request.commandId == nil { request.commandId = CommandRequest.makeCommandID() }
    let pool = options.database.makePool(maxConnections: 1)
    defer { pool.close() }
    let handler = CommandHandler(pool: pool, signOffFigures: LogFigures.signOffProvider(pool: pool))
    do {
        let outcome = try await withDatabaseErrors {
            try await handler.handle(request, actor: options.resolvedActor)
        }
        try printOutcome(outcome, format: options.format, signer: signer)
    } catch let error as DomainError {
        throw reportRejection(error, format: options.format)
    }
}
