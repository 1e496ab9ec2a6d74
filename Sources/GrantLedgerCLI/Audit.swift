import ArgumentParser
import EventStore
import Foundation

/// `grantledger audit ...`: tools for auditors.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the integrity of the log and reproduce past states.",
        subcommands: [AuditVerify.self])
}

/// `grantledger audit verify`: recomputes every hash and the chain.
struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every event hash and the global chain; print the verified head.",
        discussion: """
            Names the first bad position for an altered, deleted, inserted or reordered event. \
            Note the printed head; later pass it as --expect-head POSITION:HASH to check that the \
            log only grew since. Exits 21 when the check fails.
            """)

    @OptionGroup(title: "Database") var database: DatabaseOptions

    @Option(help: "A head noted earlier, as POSITION:HASH.")
    var expectHead: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        if let expectHead, parseHead(expectHead) == nil {
            throw ValidationError("--expect-head must be POSITION:HASH, e.g. 1234:9f86d0…")
        }
    }

    func parseHead(_ text: String) -> ChainHead? {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let position = Int64(parts[0]), parts[1].count == 64 else { return nil }
        return ChainHead(position: position, hash: String(parts[1]))
    }

    func run() async throws {
        let store = EventStore(pool: database.makePool())
        let report = try await withDatabaseErrors {
            try await store.verify(expectedHead: expectHead.flatMap(parseHead)) { reached, last in
                if stderrIsTerminal && format == .text {
                    FileHandle.standardError.write(Data("\rverifying: \(reached)/\(last)".utf8))
                }
            }
        }
        if stderrIsTerminal && format == .text { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .text:
            if report.ok {
                print("log verified: \(report.eventsChecked) events, no alteration found")
                print("verified head: \(report.head.position):\(report.head.hash)")
            } else {
                print("LOG INTEGRITY FAILURE at position \(report.firstBadPosition ?? 0): \(report.problem ?? "")")
                print("last good head: \(report.head.position):\(report.head.hash)")
            }
        }
        if !report.ok { throw ExitCode(ExitStatus.integrity) }
    }
}
