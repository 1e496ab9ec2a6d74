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

@Suite("The HTML report in a real browser")
struct BrowserTests {
    @Test("the HTML report renders in a real browser: a page with the figures, no console error")
    func browser() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let reporter = I3Reporter(pool: db.pool)
        let report = try await reporter.report(
            I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!))
        let page = try await I3PicturePage.make(report, language: .kk, reporter: reporter)
        let dom = try await Self.render(page.html)
        #expect(dom.contains("data-figure=\"total\""))
        #expect(dom.components(separatedBy: "data-region=").count == 21)
        #expect(dom.contains("Абай облысы"))
    }

    /// Renders `html` in headless Chromium: a screenshot that shows a page (not blank) with no
    /// console error, then the DOM the browser built.
    static func render(_ html: String) async throws -> String {
        let file = try Validators.temporaryFile(html, suffix: ".html")
        let png = file.deletingPathExtension().appendingPathExtension("png")
        defer {
            try? FileManager.default.removeItem(at: file)
            try? FileManager.default.removeItem(at: png)
        }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1800"]
        let shot = try await Subprocess.run(
            "/usr/bin/chromium",
            flags + ["--enable-logging=stderr", "--v=0", "--screenshot=\(png.path)", file.absoluteString],
            environment: ProcessInfo.processInfo.environment)
        #expect(shot.status == 0, "\(shot.stderr.suffix(2_000))")
        let image = try Data(contentsOf: png)
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        // A blank 1280 × 1800 page compresses to a few kilobytes; a report is far larger.
        #expect(image.count > 40_000, "\(image.count) bytes")
        #expect(!shot.stderr.contains("CONSOLE"), "\(shot.stderr.suffix(2_000))")
        #expect(!shot.stderr.contains("Uncaught"))
        return try await Subprocess.run(
            "/usr/bin/chromium", flags + ["--dump-dom", file.absoluteString],
            environment: ProcessInfo.processInfo.environment
        ).stdout
    }

    @Test(
        "the results framework page renders in a real browser in each language: every value in the DOM, no console error",
        arguments: ReportLanguage.allCases)
    func frameworkPage(language: ReportLanguage) async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let framework = try await FrameworkReport.make(
            IndicatorQuery(from: BusinessDate("2025-01-01")!, to: BusinessDate("2025-12-31")!), cutOff: .head,
            pool: db.pool)
        let dom = try await Self.render(FrameworkPage(framework, language: language).html)
        // Every indicator's value as the report computed it, under its objective.
        for entry in framework.indicators {
            let value = entry.value.map(String.init) ?? ""
            #expect(
                dom.contains("data-indicator=\"\(entry.indicator)\" data-value=\"\(value)\""),
                "\(entry.indicator) = \(value) in \(language)")
        }
        #expect(dom.components(separatedBy: "data-objective=").count == 4)
        #expect(dom.contains("data-sign-off=\"I3-2025-ANNUAL\"") && dom.contains("data-sign-off=\"III6-2025-ANNUAL\""))
        #expect(!dom.contains("<script"))
        // Kazakh and Russian titles are marked as working translations; English ones are the Roadmap's.
        let marks = dom.components(separatedBy: "data-working-translation=\"title\"").count - 1
        #expect(marks == (language == .en ? 0 : 14))
        if language == .ru { #expect(dom.contains("Число малых казахстанских ОГО")) }
        if language == .en { #expect(dom.contains(ResultsFramework.indicators[0].title)) }
    }
}
