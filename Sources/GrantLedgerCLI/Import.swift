import ArgumentParser
import Foundation
import GrantDomain
import Ledger
import NIOConcurrencyHelpers
import PostgresClient

/// `grantledger import FILE.jsonl`: many commands, one per line, applied in order.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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

    /// Commands per transaction.
    static let batchSize = 32

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
        let pool = options.database.makePool(maxConnections: 1)
        defer { pool.close() }
        let handler = CommandHandler(pool: pool)
        let actor = options.resolvedActor
        let progress = ProgressBar(
            total: lines.count, label: "import", enabled: stderrIsTerminal && options.format == .text)
        var accepted = 0
        var replayed = 0
        var rejections: [(line: Int, error: DomainError)] = []

        // Commands go in batches of `batchSize`, one transaction each with a savepoint per
        // command (CommandHandler.handleBatch): a rejected line rolls back alone and the batch
        // shares one commit. A sign-off, which waits for the read model, goes on its own.
        var pending: [(line: Int, request: CommandRequest)] = []
        var stopped = false
        func reject(_ line: Int, _ error: DomainError) {
            rejections.append((line, error))
            if options.format == .text {
                progress.clear()
                printError("line \(line): \(error.code.rawValue): \(error.message)")
            }
            if stopOnError { stopped = true }
        }
        func count(_ outcome: CommandOutcome) {
            if outcome.replayed { replayed += 1 } else { accepted += 1 }
        }
        func flush() async throws {
            var remaining = pending[...]
            pending.removeAll(keepingCapacity: true)
            while let first = remaining.first, !stopped {
                let batch = remaining
                let results: [Result<CommandOutcome, DomainError>] = try await withDatabaseErrors {
                    do {
                        return try await handler.handleBatch(
                            batch.map(\.request), actor: actor, stopOnError: stopOnError)
                    } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
                        printError(
                            "lines \(first.line)-\(batch[batch.endIndex - 1].line): the connection broke during their commit; "
                                + "they may or may not be recorded. Run the import again: lines with a commandId are applied once."
                        )
                        throw ExitCode(ExitStatus.database)
                    }
                }
                for (entry, result) in zip(batch, results) {
                    switch result {
                    case .success(let outcome): count(outcome)
                    case .failure(let error): reject(entry.line, error)
                    }
                }
                remaining = remaining.dropFirst(results.count)
                // A batch ends early when a command loses a race; one that lost at the very
                // start goes alone, with the usual retries, so that the import always moves on.
                if results.isEmpty, !stopped {
                    do {
                        count(try await withDatabaseErrors { try await handler.handle(first.request, actor: actor) })
                    } catch let error as DomainError {
                        reject(first.line, error)
                    }
                    remaining = remaining.dropFirst()
                }
            }
        }

        for (index, line) in lines.enumerated() where !stopped {
            progress.update(index)
            let text = line?.trimmingCharacters(in: .whitespaces)
            if text?.isEmpty == true { continue }
            do {
                guard let text else { throw DomainError(.invalid, "the line is not valid UTF-8") }
                var request = try CommandRequest.parse(text)
                if request.commandId == nil { request.commandId = CommandRequest.makeCommandID() }
                if request.command.readsIndicatorAt != nil {
                    try await flush()
                    guard !stopped else { break }
                    count(try await withDatabaseErrors { try await handler.handle(request, actor: actor) })
                } else {
                    pending.append((index + 1, request))
                    if pending.count == Self.batchSize { try await flush() }
                }
            } catch let error as DomainError {
                // A line that does not parse is rejected in its place: the lines before it
                // are applied first, so that the rejections come in line order.
                try await flush()
                if !stopped { reject(index + 1, error) }
            }
        }
        try await flush()
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
