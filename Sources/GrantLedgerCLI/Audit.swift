import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import Ledger
import NIOConcurrencyHelpers
import PersonalDataKeys
import PostgresClient
import Projections
import Transparency

/// `grantledger audit ...`: tools for auditors.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the integrity of the log and reproduce past states.",
        subcommands: [
            AuditVerify.self, AuditReplayCommand.self, AuditExport.self, AuditImport.self, AuditKeygen.self,
            AuditCheckpoint.self, AuditPublish.self, AuditProve.self, AuditConsistency.self, AuditCheck.self,
            AuditHistory.self,
        ])
}

/// `grantledger audit verify`: recomputes every hash and the chain.
struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every event hash, the global chain and the Merkle tree; print the verified head.",
        discussion: """
            Names the first bad position for an altered, deleted, inserted or reordered event. \
            Note the printed head, or better keep a signed checkpoint (audit checkpoint): later \
            pass --expect-head POSITION:HASH, or --checkpoint FILE --verifier-key KEY, to check \
            that the log only grew since. Exits 21 when the check fails.
            """)

    @OptionGroup(title: "Database") var database: DatabaseOptions

    @Option(help: "A head noted earlier, as POSITION:HASH.")
    var expectHead: String?

    @Option(help: "A signed checkpoint held since: the recomputed tree must extend it.")
    var checkpoint: String?

    @Option(help: "The log's verifier key (NAME+HASH+KEY) or a file holding it; with --checkpoint.")
    var verifierKey: String?

    @Flag(
        help:
            "Also recompute every read model from the log and name each row that differs from its tables (forged, altered or missing)."
    )
    var readModels = false

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        if let expectHead, parseHead(expectHead) == nil {
            throw ValidationError("--expect-head must be POSITION:HASH, e.g. 1234:9f86d0…")
        }
        if (checkpoint == nil) != (verifierKey == nil) {
            throw ValidationError("--checkpoint and --verifier-key go together")
        }
    }

    func parseHead(_ text: String) -> ChainHead? {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let position = Int64(parts[0]), parts[1].count == 64 else { return nil }
        return ChainHead(position: position, hash: String(parts[1]))
    }

    func run() async throws {
        // The held checkpoint is read before the log, so a bad file fails fast.
        let held = try checkpoint.map { try openHeldCheckpoint($0, verifierKey: verifierKey ?? "") }
        let store = EventStore(pool: database.makePool())
        var report = try await withDatabaseErrors {
            try await store.verify(expectedHead: expectHead.flatMap(parseHead)) { reached, last in
                if stderrIsTerminal && format == .text {
                    FileHandle.standardError.write(Data("\rverifying: \(reached)/\(last)".utf8))
                }
            }
        }
        if let held, report.ok {
            report = try await withDatabaseErrors { try await store.extends(held, verified: report) }
        }
        // Every event must also read as its type: one that does not is listed (the
        // projections pass it over), and the check fails.
        let pool = store.pool
        let quarantined = try await withDatabaseErrors { try await LogReplay.quarantined(pool: pool) }
        let checks = readModels ? try await withDatabaseErrors { try await ReadModelCheck.run(pool: pool) } : nil
        if stderrIsTerminal && format == .text { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        switch format {
        case .json:
            print(try Self.json(report, quarantined: quarantined, readModels: checks))
        case .text:
            if report.ok {
                print("log verified: \(report.eventsChecked) events, no alteration found")
                print("verified head: \(report.head.position):\(report.head.hash)")
                print("verified tree: \(report.tree.treeSize) leaves, root \(report.tree.rootHash)")
                if let held { print("extends the held checkpoint of \(held.treeSize) leaves") }
            } else {
                print("LOG INTEGRITY FAILURE at position \(report.firstBadPosition ?? 0): \(report.problem ?? "")")
                print("last good head: \(report.head.position):\(report.head.hash)")
            }
            for event in quarantined {
                print("QUARANTINED EVENT at position \(event.position) (\(event.type)): \(event.reason)")
            }
            for check in checks ?? [] {
                if check.ok {
                    print(
                        "read model \(check.readModel) at position \(check.position): \(check.rows) rows, as the log gives them"
                    )
                } else {
                    print(
                        "READ MODEL DIFFERS: \(check.readModel) at position \(check.position): \(check.differing) of its rows differ from the log's"
                    )
                    for difference in check.differences {
                        print(
                            "  \(check.readModel).\(difference.table) \(difference.key): \(difference.problem.rawValue)"
                        )
                    }
                }
            }
        }
        if !report.ok || !quarantined.isEmpty || !(checks ?? []).allSatisfy(\.ok) {
            throw ExitCode(ExitStatus.integrity)
        }
    }

    /// The report's JSON with `quarantined` (always) and `readModels` (with --read-models).
    static func json(_ report: VerificationReport, quarantined: [QuarantinedEvent], readModels: [ReadModelCheck]?)
        throws -> String
    {
        let encoder = ResponseJSON.encoder
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any] else {
            return String(decoding: try encoder.encode(report), as: UTF8.self)
        }
        object["quarantined"] = try JSONSerialization.jsonObject(with: encoder.encode(quarantined))
        if let readModels { object["readModels"] = try JSONSerialization.jsonObject(with: encoder.encode(readModels)) }
        object["ok"] = report.ok && quarantined.isEmpty && (readModels ?? []).allSatisfy(\.ok)
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// A checkpoint held since, opened with the log's verifier key; exit 21 when it does not open.
func openHeldCheckpoint(_ path: String, verifierKey: String) throws -> Checkpoint {
    do {
        return try Checkpoint.open(try readText(path), verifier: try readVerifierKey(verifierKey))
    } catch let error as TransparencyError {
        printError("CHECKPOINT REFUSED: \(error)")
        throw ExitCode(ExitStatus.integrity)
    }
}

/// `grantledger audit replay --as-of X`.
struct AuditReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay the log up to a point and print every grant and sub-grant as it stood then.")

    @Option(help: "A log position or an RFC 3339 timestamp (default: the head).") var asOf: CutOff?
    @Option(help: "text or json.") var format: OutputFormat = .text
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let bar = ProgressBar(total: 100, label: "replay", enabled: stderrIsTerminal && format == .text)
        let replay: AuditReplay
        do {
            replay = try await withDatabaseErrors {
                try await AuditReplay.replay(pool: pool, cutOff: asOf ?? .head) { reached, goal in
                    bar.update(goal == 0 ? 100 : Int(reached * 100 / goal))
                }
            }
        } catch let error as DomainError {
            throw reportRejection(error, format: format)
        }
        bar.finish()
        switch format {
        case .json:
            await replay.writeJSON { print($0, terminator: "") }
            print("")
        case .text:
            print(
                "as of position \(replay.asOf.position)\(replay.asOf.recordedAt.map { " (\($0))" } ?? ""), chain hash \(replay.asOf.hash); \(replay.eventsReplayed) events replayed"
            )
            print("grant\tcall\tamount\tdisbursed\tenvelope\tused\tfree\tstatus")
            for g in replay.grants {
                print(
                    "\(g.grantId)\t\(g.callId)\t\(g.amount)\t\(g.disbursed)\t\(g.envelope)\t\(g.envelopeUsed)\t\(g.envelope - g.envelopeUsed)\t\(g.closed ? "closed" : "open")"
                )
            }
            print("")
            print("sub-grant\tgrant\torganisation\tamount\tdisbursed\tstatus")
            for s in replay.subGrants {
                print("\(s.subGrantId)\t\(s.grantId)\t\(s.organisationId)\t\(s.amount)\t\(s.disbursed)\t\(s.status)")
            }
        }
    }
}

/// `grantledger audit export [--to FILE]`.
struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the whole log as JSON Lines with its integrity fields (hash, chainHash).",
        discussion: """
            Streams in constant memory. Without --to, writes to standard output. Organisations' \
            names and sub-grants' texts are in the log only encrypted (docs/domain.md §15): the \
            archive carries the ciphertext. --keys also writes the living keys, to a separate \
            file created with mode 600, for a migration (audit import --keys); a copy without \
            them shows those texts as "unavailable" and still verifies. Every event committed \
            before the export starts is in it: if another transaction of the cluster is still \
            open below the last one, the export waits for it (up to 60 s).
            """)

    @Option(help: "The file to write (default: standard output).") var to: String?
    @Option(help: "Also write the living personal-data keys to this new file (mode 600).") var keys: String?
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        if let keys, FileManager.default.fileExists(atPath: keys) {
            throw ValidationError("\(keys) exists; a keys file is never overwritten")
        }
    }

    func run() async throws {
        let handle: FileHandle
        if let to {
            guard FileManager.default.createFile(atPath: to, contents: nil) else {
                printError("error: cannot create \(to)")
                throw ExitCode(1)
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: to))
        } else {
            handle = FileHandle.standardOutput
        }
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let bar = ProgressBar(total: 100, label: "export", enabled: stderrIsTerminal && to != nil)
        let writer = LineWriter(handle: handle)
        let head = try await withDatabaseErrors {
            try await EventStore(pool: pool).export(write: { writer.write($0) }) { reached, goal in
                bar.update(goal == 0 ? 100 : Int(reached * 100 / goal))
            }
        }
        writer.flush()
        bar.finish()
        if to != nil {
            try handle.close()
            print("exported \(head.position) positions; head \(head.position):\(head.hash)")
        }
        if let keys {
            // Read after the events: every key the archive's texts name that still lives.
            let living = try await withDatabaseErrors {
                try await EventStore(pool: pool).withSession { try await $0.livingPersonalDataKeys() }
            }
            try createSecretFile(keys, PersonalDataKeysFile.text(living))
            printError("wrote \(living.count) living keys to \(keys) (mode 600); keep it apart from the archive")
        }
    }
}

/// Buffers lines and writes them in large chunks.
final class LineWriter: Sendable {
    private let handle: FileHandle
    private let buffer = NIOLockedValueBox(Data())

    init(handle: FileHandle) { self.handle = handle }

    func write(_ line: String) {
        buffer.withLockedValue { buffer in
            buffer.append(contentsOf: line.utf8)
            buffer.append(10)
            if buffer.count > 1 << 20 {
                handle.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
    }

    func flush() {
        buffer.withLockedValue { buffer in
            handle.write(buffer)
            buffer.removeAll()
        }
    }
}

/// `grantledger audit import FILE`.
struct AuditImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load an exported log into an empty database, verifying the whole chain before committing.",
        discussion: """
            Needs the migration role (it writes the log directly): --database-url, else \
            GRANTLEDGER_MIGRATION_DATABASE_URL; an administrator's task, on an admin host, not \
            the server's. A tampered file is refused whole, naming the first bad line; exit \
            code 21. Recomputing the hashes proves the file consistent, not authentic: anyone \
            can edit an event and recompute every hash after it. Give a signed checkpoint of the \
            original log (--checkpoint with --verifier-key) or a head noted from it \
            (--expect-head) to refuse an archive that does not extend it; without one the \
            import says that it checked consistency only.
            """)

    @Argument(help: "A file written by 'grantledger audit export'.") var file: String
    @Option(help: "A signed checkpoint of the original log: the archive must extend it.") var checkpoint: String?
    @Option(help: "The log's verifier key (NAME+HASH+KEY) or a file holding it; with --checkpoint.")
    var verifierKey: String?
    @Option(help: "A head noted from the original log, as POSITION:HASH: the archive's chain must pass through it.")
    var expectHead: String?
    @Option(help: "A keys file written by 'audit export --keys' (mode 600): the texts' keys.") var keys: String?
    @OptionGroup(title: "Database") var database: OwnerDatabaseOptions

    func validate() throws {
        if (checkpoint == nil) != (verifierKey == nil) {
            throw ValidationError("--checkpoint and --verifier-key go together")
        }
        if let expectHead, AuditVerify().parseHead(expectHead) == nil {
            throw ValidationError("--expect-head must be POSITION:HASH, e.g. 1234:9f86d0…")
        }
    }

    func run() async throws {
        let held = try checkpoint.map { try openHeldCheckpoint($0, verifierKey: verifierKey ?? "") }
        let head = expectHead.flatMap { AuditVerify().parseHead($0) }
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("error: cannot read \(file)")
            throw ExitCode(1)
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let keyList: [PersonalDataKey]
        do {
            keyList =
                try keys.map { try PersonalDataKeysFile.parse(readSecretFile($0, "keys file", maxBytes: 64 << 20)) }
                ?? []
        } catch let error as PersonalDataKeysFileError {
            throw ValidationError("\(keys ?? ""): \(error)")
        }
        do {
            let session = StoreSession(connection: try await database.connectAsOwner())
            let imported = try await withDatabaseErrors {
                try await session.importArchive(lines, extending: held, expectedHead: head)
            }
            if let keys {
                try await withDatabaseErrors {
                    try await session.connection.transaction { connection in
                        for key in keyList { try await StoreSession(connection: connection).addPersonalDataKey(key) }
                    }
                }
                print("took \(keyList.count) personal-data keys from \(keys)")
            } else {
                print("no keys file: organisations' names and sub-grants' texts read \"unavailable\" here")
            }
            print("imported and verified; head \(imported.position):\(imported.hash)")
            if let held {
                print("extends the held checkpoint of \(held.treeSize) leaves: the archive is the log that signed it")
            } else if let head {
                print("passes through the expected head \(head.position):\(head.hash)")
            } else {
                print(
                    "consistency checked only, not authenticity: an archive whose events were edited and whose hashes were all recomputed imports the same; give --checkpoint and --verifier-key (or --expect-head) to check its origin"
                )
            }
        } catch let error as ArchiveError {
            printError("refused: \(error)")
            throw ExitCode(ExitStatus.integrity)
        }
    }
}
