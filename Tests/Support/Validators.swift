import EventStore
import Foundation
import FoundationXML
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import Projections
import Testing

/// The real validators the export tests call; `deploy/test.sh` installs them.
enum Validators {
    static var standards: URL { CLI.repository.appendingPathComponent("Tests/Fixtures/standards") }

    /// The virtual environment's Python with jsonschema and rfc3339-validator.
    static var python: String {
        ProcessInfo.processInfo.environment["GRANTLEDGER_TEST_PYTHON"]
            ?? CLI.repository.appendingPathComponent(".venv-tests/bin/python3").path
    }

    static func temporaryFile(_ text: String, suffix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gl-\(UUID().uuidString)\(suffix)")
        try Data(text.utf8).write(to: url)
        return url
    }

    /// `xmllint --noout --schema` against the official IATI 2.03 activity schema.
    static func iati(_ xml: String) async throws -> Subprocess.Result {
        let file = try temporaryFile(xml, suffix: ".xml")
        defer { try? FileManager.default.removeItem(at: file) }
        let schema = standards.appendingPathComponent("iati-2.03/iati-activities-schema.xsd").path
        return try await Subprocess.run(
            "/usr/bin/xmllint", ["--noout", "--nonet", "--schema", schema, file.path],
            environment: ProcessInfo.processInfo.environment)
    }

    /// The official 360Giving 1.4.3 package schema, Draft 2020-12, format assertions on.
    static func giving(_ json: String) async throws -> Subprocess.Result {
        let file = try temporaryFile(json, suffix: ".json")
        defer { try? FileManager.default.removeItem(at: file) }
        return try await Subprocess.run(
            python, [standards.appendingPathComponent("validate_360giving.py").path, file.path],
            environment: ProcessInfo.processInfo.environment)
    }
}

/// What the exports must add up to, from the auditor's independent replay.
struct LedgerSums: Equatable {
    var committed = Decimal(0)
    var disbursed = Decimal(0)
    var subGranted = Decimal(0)

    init() {}

    init(_ replay: AuditReplay) {
        for grant in replay.grants {
            committed += Decimal(string: grant.amount.description)!
            disbursed += Decimal(string: grant.disbursed.description)!
        }
        for sub in replay.subGrants where sub.status != "cancelled" {
            committed += Decimal(string: sub.amount.description)!
            subGranted += Decimal(string: sub.amount.description)!
        }
        for sub in replay.subGrants { disbursed += Decimal(string: sub.disbursed.description)! }
    }
}

extension XMLNode {
    func nodes(_ path: String) -> [XMLNode] { (try? nodes(forXPath: path)) ?? [] }
    func string(_ path: String) -> String? { nodes(path).first?.stringValue }
}
