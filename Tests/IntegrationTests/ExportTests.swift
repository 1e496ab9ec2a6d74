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

@testable import Exports
@testable import TestSupport

@Suite("Exports: IATI, 360Giving, spreadsheets and pictures")
struct ExportTests {
    static let reportingOrg = IATIActivities.ReportingOrg(ref: "XI-IATI-EC_INTPA", name: "European Union")

    /// The ledger of `db` as exported, with the independent replay and a reporter.
    static func exported(_ db: TestDatabase) async throws -> (ExportLedger, LogPoint, AuditReplay, I3Reporter) {
        let (ledger, asOf) = try await ExportRun.ledger(pool: db.pool, cutOff: .head)
        let replay = try await AuditReplay.replay(pool: db.pool, cutOff: .position(asOf.position))
        return (ledger, asOf, replay, I3Reporter(pool: db.pool))
    }

    static func iati(_ db: TestDatabase) async throws -> (String, ExportLedger, LogPoint, AuditReplay, I3Reporter) {
        let (ledger, asOf, replay, reporter) = try await exported(db)
        let document = IATIActivities(
            reportingOrg: reportingOrg, asOf: asOf, generatedAt: "2026-11-26T12:00:00Z",
            i3: ExportRun.i3(ledger))
        return (try await document.document(ledger, grants: ledger.grants), ledger, asOf, replay, reporter)
    }

    /// Checks an IATI file against the schema and the ledger: activities, sums, members, I.3.
    static func checkIATI(_ db: TestDatabase) async throws {
        let (xml, ledger, asOf, replay, reporter) = try await iati(db)
        let validation = try await Validators.iati(xml)
        #expect(validation.status == 0, "xmllint: \(validation.stderr.prefix(2_000))")
        #expect(validation.stderr.contains("validates"))

        let document = try XMLDocument(data: Data(xml.utf8))
        let activities = document.nodes("/iati-activities/iati-activity")
        #expect(activities.count == replay.grants.count)
        #expect(document.string("/iati-activities/@version") == "2.03")
        var sums = LedgerSums()
        for (activity, grant) in zip(activities, ledger.grants) {
            let award = grant.award
            #expect(activity.string("iati-identifier") == "\(reportingOrg.ref)-\(award.contractNumber)")
            #expect(activity.string("activity-status/@code") == (grant.closed == nil ? "2" : "4"))
            // Funder twice, then the funded members, lead first, no associates.
            let roles = activity.nodes("participating-org").compactMap { $0.string("@role") }
            let funded = award.members.filter { $0.role != .associate }
            #expect(roles == ["1", "3"] + funded.map { _ in "4" })
            let implementing = activity.nodes("participating-org[@role='4']")
            #expect(implementing.first?.string("narrative") == ledger.name(of: ExportLedger.lead(of: grant) ?? ""))
            for (org, member) in zip(implementing.dropFirst(), funded.filter { $0.role != .lead }) {
                #expect(org.string("@ref") == ledger.orgIdentifier(of: member.organisationId))
            }
            for transaction in activity.nodes("transaction") {
                let text = try #require(transaction.string("value"))
                let value = try #require(Decimal(string: text))
                #expect(transaction.string("value/@currency") == "EUR")
                #expect(transaction.string("value/@value-date") == transaction.string("transaction-date/@iso-date"))
                switch transaction.string("transaction-type/@code") {
                case "2":
                    sums.committed += value
                    if transaction.string("provider-org/@ref") != reportingOrg.ref { sums.subGranted += value }
                case "3": sums.disbursed += value
                default: Issue.record("unexpected transaction type")
                }
            }
            // I.3 per calendar year of the grant: the report's figures for the call and year.
            let periods = activity.nodes("result/indicator/period")
            #expect(periods.count == award.endDate.year - award.startDate.year + 1)
            for period in periods {
                let start = try #require(period.string("period-start/@iso-date").flatMap(BusinessDate.init))
                let report = try await reporter.report(
                    I3Query(
                        from: start, to: BusinessDate("\(start.year)-12-31")!, programme: nil, callId: award.callId),
                    cutOff: .position(asOf.position))
                #expect(period.string("actual[not(dimension)]/@value") == String(report.figures.total))
                for gender in LeadershipGender.allCases {
                    #expect(
                        period.string("actual[dimension/@value='\(gender.rawValue)']/@value")
                            == String(report.figures.byLeadershipGender[gender] ?? 0))
                }
                let byRegion = report.figures.byRegion
                for region in Region.codes {
                    #expect(
                        period.string("actual[dimension/@name='region' and dimension/@value='\(region)']/@value")
                            == String(byRegion[region] ?? 0))
                }
            }
        }
        #expect(sums == LedgerSums(replay))
    }

    @Test("hostile text stays well-formed XML: markup escaped, NUL and controls replaced, marks and emoji kept")
    func hostileXMLText() throws {
        let hostile = "a\u{0}b\u{1}c\u{B}<x>&amp;\"q\"'\u{FFFE}]]>e\u{301} 🇰🇿\tend\n"
        var writer = XMLWriter()
        writer.open("root", ["name": hostile])
        writer.narrative(hostile)
        writer.comment("--" + hostile + "--")
        writer.close("root")
        let document = try XMLDocument(data: Data(writer.text.utf8))
        let expected = "a\u{FFFD}b\u{FFFD}c\u{FFFD}<x>&amp;\"q\"'\u{FFFD}]]>e\u{301} 🇰🇿\tend\n"
        #expect(document.string("/root/narrative") == expected)
        #expect(document.string("/root/@name") == expected)
    }

    @Test("IATI: the sample programme's file is valid against the 2.03 schema and adds up to the ledger")
    func iatiSample() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        try await Self.checkIATI(db)
    }

    @Test("IATI: a random history's file is valid and adds up, cancelled sub-grants reversed")
    func iatiRandom() async throws {
        let (generator, db, _) = try await HistoryGenerator.recorded(seed: 21, steps: 600)
        #expect(generator.history.log.contains { if case .subGrantCancelled = $0 { true } else { false } })
        try await Self.checkIATI(db)
    }

    @Test("the validators are real: a broken IATI file and a broken 360Giving package are refused")
    func validatorsRefuse() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let (xml, _, _, _, _) = try await Self.iati(db)
        let broken = xml.replacingOccurrences(
            of: #"<iati-identifier>[^<]*</iati-identifier>"#, with: "", options: .regularExpression)
        #expect(broken != xml)
        #expect(try await Validators.iati(broken).status != 0)
        let (ledger, asOf, _, _) = try await Self.exported(db)
        let json = try GivingPackage(funderID: "XI-IATI-EC_INTPA", funderName: "EU", prefix: "360G-gl", asOf: asOf)
            .document(ledger, grants: ledger.grants)
        let badDate = json.replacingOccurrences(
            of: #""awardDate":"[0-9-]+""#, with: #""awardDate":"2025-13-45""#, options: .regularExpression)
        #expect(badDate != json)
        let refused = try await Validators.giving(badDate)
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refused.stdout.contains("awardDate"))
    }

    /// The decimal numbers after `"key":` in a JSON text, read exactly.
    static func numbers(_ key: String, in json: String) -> [Decimal] {
        let pattern = try! NSRegularExpression(pattern: "\"\(key)\":(-?[0-9]+(?:\\.[0-9]+)?)")
        return pattern.matches(in: json, range: NSRange(json.startIndex..., in: json)).compactMap { match in
            Range(match.range(at: 1), in: json).flatMap { Decimal(string: String(json[$0])) }
        }
    }

    static func checkGiving(_ db: TestDatabase) async throws {
        let (ledger, asOf, replay, _) = try await exported(db)
        let prefix = "360G-grantledger"
        let json = try GivingPackage(
            funderID: "XI-IATI-EC_INTPA", funderName: "European Union", prefix: prefix, asOf: asOf
        ).document(ledger, grants: ledger.grants)
        let validation = try await Validators.giving(json)
        #expect(
            validation.status == 0, "jsonschema: \(validation.stdout.prefix(2_000)) \(validation.stderr.prefix(500))")

        let package = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let grants = try #require(package["grants"] as? [[String: Any]])
        let live = replay.subGrants.filter { $0.status != "cancelled" }
        #expect(grants.count == replay.grants.count + live.count)
        let sums = LedgerSums(replay)
        #expect(numbers("amountAwarded", in: json).reduce(0, +) == sums.committed)
        #expect(numbers("amountDisbursed", in: json).reduce(0, +) == sums.disbursed)
        // Transactions are listed payment by payment and add up to the disbursed amounts.
        #expect(numbers("value", in: json).reduce(0, +) == sums.disbursed)
        let byID = Dictionary(uniqueKeysWithValues: grants.compactMap { g in (g["id"] as? String).map { ($0, g) } })
        for grant in ledger.grants {
            let entry = try #require(byID["\(prefix)-\(grant.award.grantId)"])
            #expect(
                (entry["regrantType"] as? String) == (grant.award.subGrantingEnvelope > .zero ? "FRG010" : nil))
            let lead = try #require(ExportLedger.lead(of: grant))
            let leadID = ledger.orgIdentifier(of: lead) ?? "\(prefix)-org-\(lead)"
            #expect(((entry["recipientOrganization"] as? [[String: Any]])?.first?["id"] as? String) == leadID)
            for sub in ledger.subGrants(of: grant.award.grantId) {
                let subEntry = byID["\(prefix)-\(sub.award.subGrantId)"]
                #expect((subEntry == nil) == (sub.cancelled != nil))
                if let subEntry {
                    let funder = (subEntry["fundingOrganization"] as? [[String: Any]])?.first?["id"] as? String
                    #expect(funder == leadID)
                }
            }
        }
    }

    @Test("published files withhold confidential organisations: pseudonyms, no ref, the same counts, still valid")
    func publishedPseudonyms() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        guard let pseudonyms = Pseudonyms(keyText: Pseudonyms.generateKeyText()) else {
            Issue.record("no key")
            return
        }
        let (named, asOf) = try await ExportRun.ledger(pool: db.pool, cutOff: .head)
        let (withheld, _) = try await ExportRun.ledger(pool: db.pool, cutOff: .head, pseudonyms: pseudonyms)
        let confidential = named.organisations.values.filter(\.isConfidential)
        #expect(confidential.count > 10)
        let iati = try await IATIActivities(
            reportingOrg: Self.reportingOrg, asOf: asOf, generatedAt: "2026-11-26T12:00:00Z", i3: ExportRun.i3(withheld)
        ).document(withheld, grants: withheld.grants)
        let namedIATI = try await IATIActivities(
            reportingOrg: Self.reportingOrg, asOf: asOf, generatedAt: "2026-11-26T12:00:00Z", i3: ExportRun.i3(named)
        ).document(named, grants: named.grants)
        let giving = try GivingPackage(
            funderID: "XI-IATI-EC_INTPA", funderName: "European Union", prefix: "360G-grantledger", asOf: asOf
        ).document(withheld, grants: withheld.grants)
        // Neither file names a confidential organisation, by identifier or by name.
        for document in [iati, giving] {
            for profile in confidential {
                #expect(!document.contains(profile.organisationId), "\(profile.organisationId) published")
                #expect(!document.contains(profile.name), "\(profile.name) published")
                #expect(!document.contains(escapeForSearch(profile.name)), "\(profile.name) published")
            }
        }
        // The same pseudonym in both, the HTTP viewer's; every transaction and grant still there.
        let someone = try #require(
            withheld.subGrants.map(\.award.organisationId).first { withheld.pseudonym(of: $0) != nil })
        let pseudonym = pseudonyms.pseudonym(someone)
        #expect(giving.contains("360G-grantledger-\(pseudonym)"))
        #expect(iati.contains("Civil society group, "))
        #expect(
            iati.components(separatedBy: "<transaction>").count
                == namedIATI.components(separatedBy: "<transaction>").count)
        #expect(
            iati.components(separatedBy: "<receiver-org").count
                == namedIATI.components(separatedBy: "<receiver-org").count)
        let (iatiCheck, givingCheck) = (try await Validators.iati(iati), try await Validators.giving(giving))
        #expect(iatiCheck.status == 0, "\(iatiCheck.stderr.prefix(1_000))")
        #expect(givingCheck.status == 0, "\(givingCheck.stdout.prefix(1_000))")
    }

    /// A name as it is written in an XML or JSON file (markup escaped), to search for it.
    func escapeForSearch(_ name: String) -> String {
        name.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    @Test("360Giving: the sample programme's package is valid against the 1.4.3 schema and adds up")
    func givingSample() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        try await Self.checkGiving(db)
    }

    @Test("360Giving: a random history's package is valid and adds up, cancelled sub-grants left out")
    func givingRandom() async throws {
        let (_, db, _) = try await HistoryGenerator.recorded(seed: 22, steps: 600)
        try await Self.checkGiving(db)
    }

    @Test("pictures: the SVG and the HTML page show exactly the JSON report's figures, in three languages")
    func pictures() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let reporter = I3Reporter(pool: db.pool)
        let report = try await reporter.report(
            I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!))
        let f = report.figures
        #expect(f.total > 0)
        for language in ReportLanguage.allCases {
            let picture = I3Picture(report: report, language: language)
            let svg = try XMLDocument(data: Data(picture.svgDocument.utf8))
            #expect(svg.nodes("//*[@data-region]").count == 20)
            let byRegion = f.byRegion
            for region in Region.codes {
                #expect(svg.string("//*[@data-region='\(region)']/@data-value") == String(byRegion[region] ?? 0))
            }
            #expect(svg.string("//*[@data-figure='total']/@data-value") == String(f.total))
            func bar(_ chart: String, _ value: String) -> String? {
                svg.string("//*[@data-chart='\(chart)']/*[@data-value-of='\(value)']/@data-value")
            }
            for gender in LeadershipGender.allCases {
                #expect(bar("leadershipGender", gender.rawValue) == String(f.byLeadershipGender[gender] ?? 0))
            }
            for status in RegistrationStatus.allCases {
                #expect(bar("registrationStatus", status.rawValue) == String(f.byRegistrationStatus[status] ?? 0))
            }
            for settlement in Settlement.allCases {
                #expect(bar("settlement", settlement.rawValue) == String(f.bySettlement[settlement] ?? 0))
            }
            for channel in AccessChannel.allCases {
                #expect(bar("channel", channel.rawValue) == String(f.byChannel[channel] ?? 0))
            }
            #expect(svg.string("//*[@data-provenance]/@data-provenance") == String(report.asOf.position))
            #expect(picture.svg.contains(report.asOf.hash))
            // Region names in the language (docs/domain.md §11).
            #expect(picture.html.contains(Region.name(of: "KZ-10", in: language)!))
            #expect(picture.html.contains("<html lang=\"\(language.rawValue)\">"))
            // Self-contained: no scripts, no resource from anywhere.
            for forbidden in ["<script", "src=", "href=", "@import", "url("] {
                #expect(!picture.html.contains(forbidden), "\(forbidden)")
            }
        }
        #expect(I3Picture(report: report, language: .kk).html.contains("Абай облысы"))
        #expect(I3Picture(report: report, language: .ru).html.contains("область Абай"))
        #expect(I3Picture(report: report, language: .en).html.contains("Abai Region"))
    }

    @Test("CLI: export files, the refusals, list and report CSV with a byte-order mark, formulas neutralised")
    func cli() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL)
        // Nothing to export yet: a clear refusal, no file.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("gl-\(UUID().uuidString).xml")
        defer { try? FileManager.default.removeItem(at: out) }
        let iati = [
            "export", "iati", "--reporting-org-ref", "XI-IATI-EC_INTPA", "--reporting-org-name", "European Union",
            "--out", out.path,
        ]
        let empty = try await cli.run(iati)
        #expect(empty.status == 11)
        #expect(empty.stderr.contains("no grant"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // A control character in a flag is a usage error.
        let control = try await cli.run([
            "export", "360giving", "--funder-id", "X\u{1}", "--funder-name", "EU", "--prefix", "360G-x",
        ])
        #expect(control.status == 64)

        try await db.importSample()
        let written = try await cli.run(iati)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try await Validators.iati(String(contentsOf: out, encoding: .utf8)).status == 0)
        let giving = try await cli.run([
            "export", "360giving", "--funder-id", "XI-IATI-EC_INTPA", "--funder-name", "European Union", "--prefix",
            "360G-grantledger", "--programme", "CSO-LA",
        ])
        #expect(giving.status == 0, "\(giving.stderr)")
        #expect(try await Validators.giving(giving.stdout).status == 0)

        // An organisation whose name a spreadsheet would run as a formula.
        let hostile = try await cli.run([
            "register-organisation", "--organisation-id", "FORMULA", "--name", "=HYPERLINK(\"http://x\",\"click\")",
            "--country", "KZ", "--region-code", "KZ-43", "--settlement", "rural", "--registration-status",
            "unregistered", "--leadership-gender", "women", "--kind", "informalGroup",
        ])
        #expect(hostile.status == 0, "\(hostile.stderr)")
        // Readers see it once no older transaction in the cluster is open (the gap-free read).
        let last = try await db.committedEvents().last?.position ?? 1
        _ = try await db.readAll(after: last - 1, count: 1)
        let list = try await cli.run(["list", "organisation", "--format", "csv", "--bom"])
        #expect(list.status == 0)
        #expect(
            list.stdout.hasPrefix(
                "\u{FEFF}\"id\",\"parent\",\"status\",\"organisationId\",\"name\",\"country\",\"regionCode\""))
        #expect(list.stdout.contains(#""FORMULA","KZ-43","#))
        #expect(list.stdout.contains(#""'=HYPERLINK(""http://x"",""click"")""#))
        #expect(!list.stdout.contains("\n=") && !list.stdout.contains(",=HYPERLINK"))
        let rows = list.stdout.split(separator: "\n")
        let organisations = try await EntityQueries(pool: db.pool).list(.organisation)
        #expect(rows.count == organisations.count + 1)
        // Money stays a decimal string and dates ISO.
        let grants = try await cli.run(["list", "grant", "--format", "csv"])
        #expect(grants.stdout.split(separator: "\n").first?.contains("amount") == true)
        #expect(grants.stdout.range(of: #","20[0-9]{2}-[0-9]{2}-[0-9]{2}","#, options: .regularExpression) != nil)
        let report = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--format", "csv", "--bom",
        ])
        #expect(report.stdout.hasPrefix("\u{FEFF}\"Section\","))
        let svg = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--format", "svg", "--lang", "ru",
        ])
        #expect(svg.stdout.hasPrefix("<?xml"))
        #expect(svg.stdout.contains("По регионам"))
        let badLanguage = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--format", "html", "--lang", "de",
        ])
        #expect(badLanguage.status == 64)
    }

    @Test("HTTP: pictures by Accept, languages by ?lang and Accept-Language, lists and reports as CSV")
    func http() async throws {
        let fixture = try await HTTPFixture.make()
        let i3 = "/v1/indicators/i3?from=2024-01-01&to=2026-12-31"
        try await fixture.application.test(.router) { client in
            let json = try await client.execute(uri: i3, method: .get, headers: fixture.headers(.viewer)) {
                ExportTests.jsonObject($0.body)
            }
            let total = try #require(json["total"] as? Int)
            let svg = try await client.execute(
                uri: i3 + "&lang=kk", method: .get, headers: fixture.headers(.viewer, [.accept: "image/svg+xml"])
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/svg+xml; charset=utf-8")
                #expect(response.headers[.contentLanguage] == "kk")
                return String(buffer: response.body)
            }
            let document = try XMLDocument(data: Data(svg.utf8))
            #expect(document.string("//*[@data-figure='total']/@data-value") == String(total))
            #expect(svg.contains("Өңірлер бойынша"))
            let html = try await client.execute(
                uri: i3, method: .get,
                headers: fixture.headers(
                    .viewer,
                    [.accept: "text/html,application/xhtml+xml", .acceptLanguage: "de;q=0.9, ru;q=0.8, en;q=0.5"])
            ) { response in
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.contentLanguage] == "ru")
                return String(buffer: response.body)
            }
            #expect(html.hasPrefix("<!DOCTYPE html>"))
            #expect(html.contains("область Абай"))
            #expect(html.contains("data-value=\"\(total)\">Организации: \(total)<"))
            let english = try await client.execute(
                uri: i3, method: .get, headers: fixture.headers(.viewer, [.accept: "text/html"])
            ) { String(buffer: $0.body) }
            #expect(english.contains("Abai Region"))
            let badLanguage = try await client.execute(
                uri: i3 + "&lang=xx", method: .get, headers: fixture.headers(.viewer, [.accept: "text/html"])
            ) { response in (response.status, errorCode(response.body)) }
            #expect(badLanguage.0 == .badRequest)
            #expect(badLanguage.1 == "invalid")
            let csv = try await client.execute(
                uri: i3 + "&bom=true", method: .get, headers: fixture.headers(.viewer, [.accept: "text/csv"])
            ) { String(buffer: $0.body) }
            #expect(csv.hasPrefix("\u{FEFF}\"Section\","))
            // The restatement of the sample's sign-off as a spreadsheet.
            let restatement = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement?bom=true", method: .get,
                headers: fixture.headers(.viewer, [.accept: "text/csv"])
            ) { response in
                #expect(response.status == .ok)
                return String(buffer: response.body)
            }
            #expect(restatement.hasPrefix("\u{FEFF}\"Section\",\"Key\",\"Organisation\",\"Change\",\"Delta\""))
            #expect(restatement.contains("\n\"Delta\",\"total\","))
            // A list page as CSV, the next cursor in a header.
            let (page, next) = try await client.execute(
                uri: "/v1/organisations?limit=5&bom=true", method: .get,
                headers: fixture.headers(.viewer, [.accept: "text/csv"])
            ) { response in
                (String(buffer: response.body), response.headers[HTTPField.Name("Grantledger-Next-Cursor")!])
            }
            #expect(page.hasPrefix("\u{FEFF}\"id\",\"parent\",\"status\",\"organisationId\",\"name\""))
            #expect(page.split(separator: "\n").count == 6)
            let cursor = try #require(next)
            let second = try await client.execute(
                uri: "/v1/organisations?limit=5&cursor=\(cursor)", method: .get,
                headers: fixture.headers(.viewer, [.accept: "text/csv"])
            ) { String(buffer: $0.body) }
            #expect(!second.hasPrefix("\u{FEFF}"))
            #expect(second.split(separator: "\n").count == 6)
            #expect(
                Set(second.split(separator: "\n").dropFirst()).isDisjoint(with: page.split(separator: "\n").dropFirst())
            )
        }
    }

    static func jsonObject(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8))) as? [String: Any] ?? [:]
    }
}
