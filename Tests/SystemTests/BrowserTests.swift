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
        let html = try Validators.temporaryFile(page.html, suffix: ".html")
        let png = html.deletingPathExtension().appendingPathExtension("png")
        defer {
            try? FileManager.default.removeItem(at: html)
            try? FileManager.default.removeItem(at: png)
        }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1800"]
        let shot = try await Subprocess.run(
            "/usr/bin/chromium",
            flags + ["--enable-logging=stderr", "--v=0", "--screenshot=\(png.path)", html.absoluteString],
            environment: ProcessInfo.processInfo.environment)
        #expect(shot.status == 0, "\(shot.stderr.suffix(2_000))")
        let image = try Data(contentsOf: png)
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        // A blank 1280 × 1800 page compresses to a few kilobytes; the report is far larger.
        #expect(image.count > 40_000, "\(image.count) bytes")
        #expect(!shot.stderr.contains("CONSOLE"), "\(shot.stderr.suffix(2_000))")
        #expect(!shot.stderr.contains("Uncaught"))
        // The DOM the browser built holds the figures.
        let dom = try await Subprocess.run(
            "/usr/bin/chromium", flags + ["--dump-dom", html.absoluteString],
            environment: ProcessInfo.processInfo.environment)
        #expect(dom.stdout.contains("data-figure=\"total\""))
        #expect(dom.stdout.components(separatedBy: "data-region=").count == 21)
        #expect(dom.stdout.contains("Абай облысы"))
    }
}
