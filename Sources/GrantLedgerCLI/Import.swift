import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import Ledger
import NIOConcurrencyHelpers
import PostgresClient
import Projections

/// `grantledger import FILE.jsonl`: many commands, one per line, applied in order.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Apply a JSON Lines file of commands in order, reporting every rejected line.",
        discussion: """
            Each rejected line is reported with its number and its §5 error, and the rest \
            continues (--stop-on-error stops at the first). Ends with a summary: accepted, \
            rejected, already applied. Lines carrying a commandId are idempotent, so running \
            the same file again records nothing new. Blank lines are skipped. Exits 0 when no \
            line was rejected, else with the code of the first rejection's class.
            """)

    @Argument(help: "The .jsonl file, or - for standard input.")
    var file: String

    @Flag(help: "Stop at the first rejected line.")
    var stopOnError = false

    @OptionGroup var options: WriteOptions

    func validate() throws {
        if options.commandId != nil {
            throw ValidationError("--command-id does not apply to import; put a commandId on each line")
        }
    }

    func run() async throws {
        let data = try readInput(file)
        // Lines are checked one by one: a line that is not UTF-8 is rejected, not repaired.
        let lines: [String?] = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(validating: $0, as: UTF8.self)
        }
        // One connection for the commands, one for the memory's reads of the log.
        let pool = options.database.makePool(maxConnections: 2)
        defer { pool.close() }
        let memory = try await withDatabaseErrors {
            try await Self.memory(
                for: lines.count, store: EventStore(pool: pool), showing: stderrIsTerminal && options.format == .text)
        }
        let handler = CommandHandler(
            pool: pool, signOffFigures: LogFigures.signOffProvider(pool: pool), memory: memory)
        let progress = ProgressBar(
            total: lines.count, label: "import", enabled: stderrIsTerminal && options.format == .text)
        // Blank lines are skipped; every other line is a command or the rejection it already is.
        var requests: [Result<CommandRequest, DomainError>] = []
        var lineNumbers: [Int] = []
        for (index, line) in lines.enumerated() {
            let text = line?.trimmingCharacters(in: .whitespaces)
            if text?.isEmpty == true { continue }
            lineNumbers.append(index + 1)
            do throws(DomainError) {
                guard let text else { throw DomainError(.invalid, "the line is not valid UTF-8") }
                var request = try CommandRequest.parse(text)
                if request.commandId == nil { request.commandId = CommandRequest.makeCommandID() }
                requests.append(.success(request))
            } catch {
                requests.append(.failure(error))
            }
        }
        var accepted = 0
        var replayed = 0
        var rejections: [(line: Int, error: DomainError)] = []
        do {
            try await withDatabaseErrors {
                try await handler.handle(
                    requests, actor: options.resolvedActor, stopOnError: stopOnError,
                    progress: { progress.update(lineNumbers[$0]) }
                ) { index, answer in
                    switch answer {
                    case .success(let outcome):
                        if outcome.replayed { replayed += 1 } else { accepted += 1 }
                    case .failure(let error):
                        rejections.append((lineNumbers[index], error))
                        if options.format == .text {
                            progress.clear()
                            printError("line \(lineNumbers[index]): \(error.code.rawValue): \(error.message)")
                        }
                    }
                }
            }
        } catch let unknown as CommandHandler.OutcomeUnknown {
            printError(
                "lines \(lineNumbers[unknown.indices.lowerBound])-\(lineNumbers[unknown.indices.upperBound]): "
                    + "the connection broke during their commit; they may or may not be recorded. "
                    + "Run the import again: lines with a commandId are applied once.")
            throw ExitCode(ExitStatus.database)
        }
        progress.finish()
        switch options.format {
        case .json:
            print(
                ResponseJSON.text(
                    ImportSummary(
                        accepted: accepted, rejected: rejections.count, alreadyApplied: replayed,
                        rejections: rejections.map {
                            .init(
                                line: $0.line,
                                error: ErrorBody(code: $0.error.code.rawValue, message: $0.error.message).error)
                        })))
        case .text:
            print("import: \(accepted) accepted, \(rejections.count) rejected, \(replayed) already applied")
        }
        if let first = rejections.first {
            throw ExitCode(exitStatus(for: first.error.code))
        }
    }
}

extension Import {
    /// Events the memory reads for every command it will decide, at most: loading the log
    /// into memory costs about one command under locks per 100 events read (docs/performance.md,
    /// issue #24), so a file much smaller than the log is decided under locks.
    static let eventsPerCommand: Int64 = 100

    /// A memory of the log to decide the file's commands from (docs/architecture.md,
    /// "Commands decided from memory"), read to the log's head, or nil when the log is too
    /// long for the file's `commands` to repay reading it.
    /// - Parameter showing: say on standard error what is being read, for a log that takes
    ///   a moment (a terminal's user sees why nothing moves yet).
    static func memory(for commands: Int, store: EventStore, showing: Bool = false) async throws -> CommandMemory? {
        let head = try await store.lastAppended()
        guard head <= Int64(commands) * eventsPerCommand else { return nil }
        if showing, head >= 100_000 {
            FileHandle.standardError.write(Data("import: reading the log's \(head) events into memory\n".utf8))
        }
        let memory = CommandMemory(store: store)
        try await memory.catchUp()
        return memory
    }
}

/// A one-line progress bar on standard error, redrawn at most a few times a second.
///
final class ProgressBar: Sendable {
    let total: Int
    let label: String
    let enabled: Bool
    private let lastDraw = NIOLockedValueBox(Date.distantPast)

    init(total: Int, label: String, enabled: Bool) {
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let due: Bool = lastDraw.withLockedValue { lastDraw in
            guard Date().timeIntervalSince(lastDraw) > 0.1 else { return false }
            lastDraw = Date()
            return true
        }
        guard due else { return }
        let width = 30
        let filled = width * min(done, total) / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        lastDraw.withLockedValue { $0 = .distantPast }
    }

    func finish() { clear() }
}

/// What `import --format json` prints.
struct ImportSummary: Encodable {
    struct Rejection: Encodable {
        var line: Int
        var error: ErrorBody.Detail
    }
    var accepted: Int
    var rejected: Int
    var alreadyApplied: Int
    var rejections: [Rejection]
}
