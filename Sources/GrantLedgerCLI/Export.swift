import ArgumentParser
import EventStore
import Exports
import Foundation
import GrantDomain
import PostgresClient
import Projections

/// `grantledger export ...`: the ledger in the field's publishing formats.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Publish the ledger as an IATI 2.03 activity file or a 360Giving package.",
        subcommands: [ExportIATI.self, ExportGiving.self])
}

/// Options every export takes: the cut-off, the programme filter, the output file.
struct ExportOptions: ParsableArguments {
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp (default: the head).")
    var asOf: CutOff?
    @Option(help: "Only grants under calls of this programme (e.g. CSO-LA); 1-200 characters.")
    var programme: FilterArgument?
    @Option(help: "Write to this file (replaced whole, never half-written); default: standard output.")
    var out: String?
    @OptionGroup(title: "Confidential organisations") var pseudonymKey: PseudonymKeyOptions
}

/// A name or identifier given on the command line: 1-300 characters, no control characters.
struct LabelArgument: ExpressibleByArgument, Sendable {
    let value: String

    init?(argument: String) {
        guard (1...300).contains(argument.count),
            !argument.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        value = argument
    }
}

/// `grantledger export iati`.
struct ExportIATI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iati",
        abstract: "Write an IATI 2.03 activity file: one activity per grant.",
        discussion: """
            Valid against the IATI 2.03 schema. Each grant is an activity identified as \
            <reporting-org-ref>-<contractNumber>, with the funder (roles 1 and 3), the funded \
            consortium members (role 4, lead first), the award and sub-grant commitments, the \
            tranche and sub-grant disbursements (a cancelled sub-grant is reversed by a negative \
            commitment), and indicator I.3 per calendar year of the grant for the grant's call, \
            equal to `report i3 --call` for that year at the same cut-off. A confidential \
            organisation (docs/domain.md §15) is written without a ref, named "Civil society \
            group, <region>". See docs/exports.md.
            """)

    @OptionGroup var export: ExportOptions
    @Option(help: "The publisher's IATI organisation identifier (e.g. XI-IATI-EC_INTPA).") var reportingOrgRef:
        LabelArgument
    @Option(help: "The publisher's name.") var reportingOrgName: LabelArgument
    @Option(help: "The publisher's IATI OrganisationType code (40: Multilateral).") var reportingOrgType:
        LabelArgument =
            LabelArgument(argument: "40")!
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        try await export.run(database, counting: "activities") { ledger, grants, asOf, pool in
            let document = IATIActivities(
                reportingOrg: .init(
                    ref: reportingOrgRef.value, name: reportingOrgName.value, type: reportingOrgType.value),
                asOf: asOf, generatedAt: ExportRun.now,
                i3: ExportRun.i3(ledger))
            return try await document.document(ledger, grants: grants)
        }
    }
}

/// `grantledger export 360giving`.
struct ExportGiving: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "360giving",
        abstract: "Write a 360Giving 1.4 data package: every grant and every sub-grant not cancelled.",
        discussion: """
            Valid against the 360Giving 1.4.3 package schema. Identifiers are <prefix>-<our id>; \
            a recipient is KZ-BIN-<bin> when it has a BIN, else <prefix>-org-<organisationId>; \
            a confidential one (docs/domain.md §15) is <prefix>-anon-<16 hex>, named "Civil \
            society group, <region>". \
            A grant with a sub-granting envelope carries regrantType FRG010; its sub-grants name \
            the grantee as their funder. See docs/exports.md.
            """)

    @OptionGroup var export: ExportOptions
    @Option(help: "The funder's org-id (e.g. XI-IATI-EC_INTPA).") var funderId: LabelArgument
    @Option(help: "The funder's name.") var funderName: LabelArgument
    @Option(help: "The publisher's 360Giving identifier prefix (e.g. 360G-grantledger).") var prefix: LabelArgument
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        try await export.run(database, counting: "grants") { ledger, grants, asOf, _ in
            try GivingPackage(funderID: funderId.value, funderName: funderName.value, prefix: prefix.value, asOf: asOf)
                .document(ledger, grants: grants)
        }
    }
}

extension ExportOptions {
    /// Replays the log to the cut-off, renders the grants of the programme with `render`, and
    /// writes the text; refusals become the CLI's exit codes. With `--out`, says on standard
    /// error how many `counting` were written and at which point of the log.
    func run(
        _ database: DatabaseOptions, counting: String,
        _ render: (ExportLedger, [GrantState], LogPoint, ConnectionPool) async throws -> String
    ) async throws {
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let text = try await exporting {
            // Published files name no confidential organisation (docs/domain.md §15).
            if pseudonymKey.path == nil {
                printError(
                    "warning: no pseudonym key (--pseudonym-key or GRANTLEDGER_PSEUDONYM_KEY): confidential organisations get pseudonyms of a key made for this run only"
                )
            }
            let (ledger, asOf) = try await ExportRun.ledger(
                pool: pool, cutOff: asOf ?? .head, pseudonyms: try pseudonymKey.pseudonyms())
            let grants = ledger.grants(inProgramme: programme?.value)
            let text = try await render(ledger, grants, asOf, pool)
            if out != nil {
                printError("\(grants.count) \(counting) as of position \(asOf.position), chain hash \(asOf.hash)")
            }
            return text
        }
        try write(text, to: out)
    }
}

/// Runs an export, turning its refusals into the CLI's exit codes.
private func exporting(_ body: () async throws -> String) async throws -> String {
    do {
        return try await withDatabaseErrors { try await body() }
    } catch let error as DomainError {
        throw reportRejection(error, format: .text)
    } catch let error as IATIActivities.ExportError {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.notFound)
    } catch let error as GivingPackage.ExportError {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.notFound)
    }
}

/// Writes `text` to `path` whole (a temporary file renamed over it), or to standard output.
func write(_ text: String, to path: String?) throws {
    guard let path else {
        FileHandle.standardOutput.write(Data(text.utf8))
        return
    }
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        printError("error: cannot write \(path): \(error.localizedDescription)")
        throw ExitCode(1)
    }
    printError("wrote \(path)")
}
