import EventStore
import GrantDomain
import Projections

/// Indicator I.3 as a picture: a self-contained SVG (a tile map of the twenty regions,
/// bars for the breakdowns, a caption and the provenance line) and a printable HTML page
/// around it, in English, Kazakh or Russian. Every figure drawn is the JSON report's.
public struct I3Picture: Sendable {
    public var report: I3Report
    public var language: ReportLanguage
    /// Targets in force at the cut-off for the report's programme (HTML only).
    public var targets: [I3Progress.TargetProgress]
    /// The latest sign-off of the report's indicator, period and filters (HTML only).
    public var signOff: SignOffRecord?

    public init(
        report: I3Report, language: ReportLanguage = .en, targets: [I3Progress.TargetProgress] = [],
        signOff: SignOffRecord? = nil
    ) {
        self.report = report
        self.language = language
        self.targets = targets
        self.signOff = signOff
    }

    private var text: Labels { Labels.of(language) }

    // MARK: - SVG

    /// Where each region's tile lies on a 7 × 6 grid, west to east and north to south.
    static let tiles: [String: (column: Int, row: Int)] = [
        "KZ-59": (3, 0),
        "KZ-27": (0, 1), "KZ-39": (2, 1), "KZ-11": (3, 1), "KZ-71": (4, 1), "KZ-55": (5, 1),
        "KZ-23": (0, 2), "KZ-15": (1, 2), "KZ-62": (2, 2), "KZ-35": (3, 2), "KZ-10": (5, 2), "KZ-63": (6, 2),
        "KZ-47": (0, 3), "KZ-43": (2, 3), "KZ-33": (5, 3),
        "KZ-61": (3, 4), "KZ-31": (4, 4), "KZ-19": (5, 4),
        "KZ-79": (3, 5), "KZ-75": (5, 5),
    ]

    static let width = 1040
    static let height = 710

    /// The SVG document, with its XML declaration.
    public var svgDocument: String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg + "\n" }

    /// The `<svg>` element alone, for inlining in HTML.
    public var svg: String {
        let f = report.figures
        let (byGender, byStatus, bySettlement, byRegion) =
            (f.byLeadershipGender, f.byRegistrationStatus, f.bySettlement, f.byRegion)
        var out: [String] = []
        out.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.width) \(Self.height)\" width=\"\(Self.width)\" height=\"\(Self.height)\" role=\"img\" aria-labelledby=\"i3-title\" font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\">"
        )
        out.append("<title id=\"i3-title\">\(escape(text.title)): \(f.total)</title>")
        out.append("<rect x=\"0\" y=\"0\" width=\"\(Self.width)\" height=\"\(Self.height)\" fill=\"#ffffff\"/>")
        out.append(
            "<text x=\"24\" y=\"36\" font-size=\"17\" font-weight=\"bold\" fill=\"#1a1a1a\">\(escape(text.title))</text>"
        )
        for (index, line) in captionLines.enumerated() {
            out.append(
                "<text x=\"24\" y=\"\(60 + index * 18)\" font-size=\"13\" fill=\"#333333\">\(escape(line))</text>")
        }
        out.append(
            "<text x=\"24\" y=\"130\" font-size=\"16\" font-weight=\"bold\" fill=\"#1a1a1a\" data-figure=\"total\" data-value=\"\(f.total)\">\(escape(text.total)): \(f.total)</text>"
        )
        // The tile map.
        let size = 72
        let gap = 6
        let left = 24
        let top = 150
        let largest = max(byRegion.values.max() ?? 0, 1)
        out.append("<g data-chart=\"regions\">")
        out.append(
            "<text x=\"\(left)\" y=\"\(top - 4)\" font-size=\"13\" fill=\"#333333\">\(escape(text.byRegion))</text>")
        for code in Region.codes {
            guard let tile = Self.tiles[code] else { continue }
            let count = byRegion[code] ?? 0
            let x = left + tile.column * (size + gap)
            let y = top + 8 + tile.row * (size + gap)
            let shade = Self.shade(count, of: largest)
            let ink = count * 2 > largest ? "#ffffff" : "#1a1a1a"
            let name = Region.name(of: code, in: language) ?? code
            out.append(
                "<g data-region=\"\(escape(code))\" data-value=\"\(count)\"><title>\(escape(name)): \(count)</title>"
                    + "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(size)\" height=\"\(size)\" rx=\"6\" fill=\"\(shade)\" stroke=\"#8c8c8c\" stroke-width=\"1\"/>"
                    + "<text x=\"\(x + size / 2)\" y=\"\(y + 28)\" font-size=\"12\" text-anchor=\"middle\" fill=\"\(ink)\">\(escape(code))</text>"
                    + "<text x=\"\(x + size / 2)\" y=\"\(y + 52)\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"\(ink)\">\(count)</text></g>"
            )
        }
        out.append("</g>")
        // The bars.
        let groups: [(String, String, [(String, String, Int)])] = [
            (
                "leadershipGender", text.byLeadershipGender,
                LeadershipGender.allCases.map { ($0.rawValue, text.value($0.rawValue), byGender[$0] ?? 0) }
            ),
            (
                "registrationStatus", text.byRegistrationStatus,
                RegistrationStatus.allCases.map {
                    ($0.rawValue, text.value($0.rawValue), byStatus[$0] ?? 0)
                }
            ),
            (
                "settlement", text.bySettlement,
                Settlement.allCases.map { ($0.rawValue, text.value($0.rawValue), bySettlement[$0] ?? 0) }
            ),
            (
                "channel", text.byChannel,
                AccessChannel.allCases.map { ($0.rawValue, text.value($0.rawValue), f.byChannel[$0] ?? 0) }
            ),
        ]
        let barLeft = 780
        let barWidth = 190
        var y = 150
        let barLargest = max(groups.flatMap { $0.2.map(\.2) }.max() ?? 0, 1)
        for (key, title, values) in groups {
            out.append("<g data-chart=\"\(escape(key))\">")
            out.append(
                "<text x=\"\(barLeft - 150)\" y=\"\(y)\" font-size=\"13\" font-weight=\"bold\" fill=\"#1a1a1a\">\(escape(title))</text>"
            )
            y += 8
            for (value, label, count) in values {
                let length = count * barWidth / barLargest
                out.append(
                    "<g data-value-of=\"\(escape(value))\" data-value=\"\(count)\">"
                        + "<text x=\"\(barLeft - 8)\" y=\"\(y + 13)\" font-size=\"12\" text-anchor=\"end\" fill=\"#333333\">\(escape(label))</text>"
                        + "<rect x=\"\(barLeft)\" y=\"\(y + 2)\" width=\"\(max(length, 1))\" height=\"14\" fill=\"#2b6cb0\"/>"
                        + "<text x=\"\(barLeft + max(length, 1) + 6)\" y=\"\(y + 13)\" font-size=\"12\" fill=\"#1a1a1a\">\(count)</text></g>"
                )
                y += 20
            }
            out.append("</g>")
            y += 18
        }
        out.append("<g data-provenance=\"\(report.asOf.position)\">")
        for (index, line) in provenanceLines.enumerated() {
            out.append(
                "<text x=\"24\" y=\"\(Self.height - 44 + index * 15)\" font-size=\"11\" fill=\"#555555\">\(escape(line))</text>"
            )
        }
        out.append("</g>")
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    /// The period, filters and rules, one line each.
    var captionLines: [String] {
        let q = report.query
        let rules = report.figures.rules
        return [
            "\(text.period): \(q.from) – \(q.to)",
            "\(text.programme): \(q.programme ?? text.all); \(text.call): \(q.callId ?? text.all)",
            text.rules(String(describing: rules.smallMaxAnnualBudgetEur), rules.smallMaxStaff),
        ]
    }

    /// Position, recorded time and hashes of the log the figure stands on, in three lines.
    var provenanceLines: [String] {
        let a = report.asOf
        return [
            "\(text.asOfPosition) \(a.position)" + (a.recordedAt.map { ", \(text.recorded) \($0)" } ?? ""),
            "\(text.chainHash) \(a.hash)",
        ] + (a.treeSize.map { ["\(text.tree) \($0), \(a.rootHash ?? "")"] } ?? [])
    }

    /// A blue from light to dark by `count` ÷ `largest`; zero is near white.
    static func shade(_ count: Int, of largest: Int) -> String {
        let t = Double(count) / Double(largest)
        let light = (0xF0, 0xF4, 0xFA)
        let dark = (0x08, 0x30, 0x6B)
        func mix(_ a: Int, _ b: Int) -> Int { Int((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        let (r, g, b) = (mix(light.0, dark.0), mix(light.1, dark.1), mix(light.2, dark.2))
        return "#" + [r, g, b].map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    // MARK: - HTML

    /// A single printable page: the SVG inline, the disaggregation tables, progress against
    /// targets and the latest sign-off where they exist. No scripts, no external resources.
    public var html: String {
        let f = report.figures
        let (byGender, byStatus, bySettlement, byRegion) =
            (f.byLeadershipGender, f.byRegistrationStatus, f.bySettlement, f.byRegion)
        var out: [String] = []
        out.append("<!DOCTYPE html>")
        out.append("<html lang=\"\(language.rawValue)\">")
        out.append("<head>")
        out.append("<meta charset=\"utf-8\">")
        out.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        out.append(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"\(contentSecurityPolicy)\">"
        )
        out.append("<title>\(escape(text.title)) — \(report.query.from) – \(report.query.to)</title>")
        out.append(
            """
            <style>
            body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a; margin: 24px; }
            h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
            table { border-collapse: collapse; margin: 8px 0 16px; }
            th, td { border: 1px solid #b0b0b0; padding: 3px 8px; text-align: left; font-size: 13px; }
            td.n { text-align: right; }
            .provenance { font-size: 11px; color: #555555; word-break: break-all; }
            .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
            svg { max-width: 100%; height: auto; }
            @media print { body { margin: 0; } h2 { break-after: avoid; } table { break-inside: avoid; } }
            </style>
            """)
        out.append("</head>")
        out.append("<body>")
        // The picture carries the title, caption and total; the heading is for the page's outline.
        out.append("<h1 class=\"visually-hidden\">\(escape(text.title))</h1>")
        out.append(svg)
        func table(_ title: String, key: String, _ rows: [(String, Int)]) {
            out.append("<h2>\(escape(title))</h2>")
            out.append("<table data-table=\"\(key)\"><tbody>")
            for (label, count) in rows {
                out.append("<tr><th scope=\"row\">\(escape(label))</th><td class=\"n\">\(count)</td></tr>")
            }
            out.append("</tbody></table>")
        }
        table(
            text.byChannel, key: "channel",
            AccessChannel.allCases.map { (text.value($0.rawValue), f.byChannel[$0] ?? 0) })
        table(
            text.byLeadershipGender, key: "leadershipGender",
            LeadershipGender.allCases.map { (text.value($0.rawValue), byGender[$0] ?? 0) })
        table(
            text.byRegistrationStatus, key: "registrationStatus",
            RegistrationStatus.allCases.map { (text.value($0.rawValue), byStatus[$0] ?? 0) })
        table(
            text.bySettlement, key: "settlement",
            Settlement.allCases.map { (text.value($0.rawValue), bySettlement[$0] ?? 0) })
        table(
            text.byRegion, key: "region",
            Region.codes.map { ("\($0) \(Region.name(of: $0, in: language) ?? $0)", byRegion[$0] ?? 0) })
        out.append("<h2>\(escape(text.cells))</h2>")
        out.append("<table data-table=\"cells\"><thead><tr>")
        for heading in [text.region, text.leadershipGender, text.settlement, text.registrationStatus, text.count] {
            out.append("<th scope=\"col\">\(escape(heading))</th>")
        }
        out.append("</tr></thead><tbody>")
        for cell in f.cells {
            out.append(
                "<tr><td>\(escape(cell.regionCode)) \(escape(Region.name(of: cell.regionCode, in: language) ?? ""))</td>"
                    + "<td>\(escape(text.value(cell.leadershipGender.rawValue)))</td>"
                    + "<td>\(escape(text.value(cell.settlement.rawValue)))</td>"
                    + "<td>\(escape(text.value(cell.registrationStatus.rawValue)))</td>"
                    + "<td class=\"n\">\(cell.count)</td></tr>")
        }
        out.append("</tbody></table>")
        if !targets.isEmpty {
            out.append("<h2>\(escape(text.progress))</h2>")
            out.append("<table data-table=\"targets\"><thead><tr>")
            for heading in [text.target, text.period, text.baseline, text.targetValue, text.actual, text.achieved] {
                out.append("<th scope=\"col\">\(escape(heading))</th>")
            }
            out.append("</tr></thead><tbody>")
            for target in targets {
                out.append(
                    "<tr><td>\(escape(target.targetId))</td><td>\(target.period.from) – \(target.period.to)</td>"
                        + "<td class=\"n\">\(target.baseline.map(String.init) ?? "—")</td>"
                        + "<td class=\"n\">\(target.target)</td><td class=\"n\">\(target.actual)</td>"
                        + "<td class=\"n\">\(target.achieved.map { String(describing: $0) } ?? "—")</td></tr>")
            }
            out.append("</tbody></table>")
        }
        if let signOff {
            out.append("<h2>\(escape(text.latestSignOff))</h2>")
            out.append(
                "<p data-sign-off=\"\(escape(signOff.reportId))\">"
                    + escape(
                        text.signedOff(
                            signOff.reportId, signOff.signedOffOn.description, Int(signOff.figures.value ?? 0),
                            signOff.asOf.position))
                    + (signOff.note.map { " — " + escape($0) } ?? "") + "</p>")
        }
        out.append("<p class=\"provenance\">\(provenanceLines.map(escape).joined(separator: "<br>"))</p>")
        out.append("</body>")
        out.append("</html>")
        return out.joined(separator: "\n") + "\n"
    }
}

/// Escapes text for XML and HTML; what XML 1.0 cannot carry becomes U+FFFD.
/// What the pages may do: nothing but their own inline style and data images; no form may
/// post anywhere, no base may redirect links. Sent as a header over HTTP too (a meta policy
/// cannot say `frame-ancestors`).
public let contentSecurityPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"

func escape(_ value: String) -> String {
    XMLWriter.escape(value)
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}

/// The words of the pictures in one language.
struct Labels: Sendable {
    var title: String
    var period: String
    var programme: String
    var call: String
    var all: String
    var total: String
    var byRegion: String
    var byLeadershipGender: String
    var byRegistrationStatus: String
    var bySettlement: String
    var byChannel: String
    var cells: String
    var region: String
    var leadershipGender: String
    var settlement: String
    var registrationStatus: String
    var count: String
    var progress: String
    var target: String
    var baseline: String
    var targetValue: String
    var actual: String
    var achieved: String
    var latestSignOff: String
    var asOfPosition: String
    var recorded: String
    var chainHash: String
    var tree: String
    var values: [String: String]
    var rulesFormat: @Sendable (String, Int64) -> String
    var signedOffFormat: @Sendable (String, String, Int, Int64) -> String

    func value(_ key: String) -> String { values[key] ?? key }
    func rules(_ budget: String, _ staff: Int64) -> String { rulesFormat(budget, staff) }
    func signedOff(_ id: String, _ on: String, _ total: Int, _ position: Int64) -> String {
        signedOffFormat(id, on, total, position)
    }

    static func of(_ language: ReportLanguage) -> Labels {
        switch language {
        case .en: return english
        case .kk: return kazakh
        case .ru: return russian
        }
    }

    static let english = Labels(
        title: "Small Kazakhstani CSOs accessing EU funding (indicator I.3)", period: "Period",
        programme: "Programme", call: "Call", all: "all", total: "Organisations", byRegion: "By region",
        byLeadershipGender: "By leadership gender", byRegistrationStatus: "By registration status",
        bySettlement: "By settlement", byChannel: "By channel",
        cells: "Organisations by region, leadership, settlement and registration",
        region: "Region", leadershipGender: "Leadership", settlement: "Settlement",
        registrationStatus: "Registration", count: "Organisations", progress: "Progress against targets",
        target: "Target", baseline: "Baseline", targetValue: "Target value", actual: "Actual", achieved: "Achieved",
        latestSignOff: "Latest sign-off", asOfPosition: "As of log position", recorded: "recorded",
        chainHash: "chain hash", tree: "tree size and root",
        values: [
            "women": "women", "men": "men", "mixed": "mixed", "undisclosed": "undisclosed",
            "registered": "registered", "unregistered": "unregistered", "urban": "urban", "rural": "rural",
            "consortium": "consortium", "subGrant": "sub-grant",
        ],
        rulesFormat: { "Small: unregistered, or an annual budget of at most EUR \($0) and at most \($1) staff" },
        signedOffFormat: { "\($0), signed off on \($1): \($2) organisations, as of log position \($3)" })

    static let kazakh = Labels(
        title: "ЕО қаржыландыруына қол жеткізген Қазақстанның шағын АҚҰ-лары (I.3 индикаторы)", period: "Кезең",
        programme: "Бағдарлама", call: "Конкурс", all: "барлығы", total: "Ұйымдар", byRegion: "Өңірлер бойынша",
        byLeadershipGender: "Басшылықтың жынысы бойынша", byRegistrationStatus: "Тіркеу мәртебесі бойынша",
        bySettlement: "Елді мекен түрі бойынша", byChannel: "Қаржыландыру арнасы бойынша",
        cells: "Ұйымдар өңір, басшылық, елді мекен және тіркеу бойынша", region: "Өңір", leadershipGender: "Басшылық",
        settlement: "Елді мекен", registrationStatus: "Тіркеу", count: "Ұйымдар",
        progress: "Нысаналы көрсеткіштерге қол жеткізу", target: "Нысана", baseline: "Бастапқы мән",
        targetValue: "Нысаналы мән", actual: "Нақты", achieved: "Орындалуы", latestSignOff: "Соңғы бекіту",
        asOfPosition: "Журнал позициясы бойынша", recorded: "жазылған уақыты", chainHash: "тізбек хэші",
        tree: "ағаш өлшемі мен түбірі",
        values: [
            "women": "әйелдер", "men": "ерлер", "mixed": "аралас", "undisclosed": "көрсетілмеген",
            "registered": "тіркелген", "unregistered": "тіркелмеген", "urban": "қала", "rural": "ауыл",
            "consortium": "консорциум", "subGrant": "қосалқы грант",
        ],
        rulesFormat: {
            "Шағын: тіркелмеген немесе жылдық бюджеті EUR \($0) аспайтын және қызметкерлері \($1) аспайтын ұйым"
        },
        signedOffFormat: { "\($0), бекітілген күні \($1): \($2) ұйым, журнал позициясы \($3)" })

    static let russian = Labels(
        title: "Малые казахстанские ОГО, получившие доступ к финансированию ЕС (индикатор I.3)", period: "Период",
        programme: "Программа", call: "Конкурс", all: "все", total: "Организации", byRegion: "По регионам",
        byLeadershipGender: "По полу руководства", byRegistrationStatus: "По статусу регистрации",
        bySettlement: "По типу населённого пункта", byChannel: "По каналу финансирования",
        cells: "Организации по региону, руководству, населённому пункту и регистрации", region: "Регион",
        leadershipGender: "Руководство", settlement: "Населённый пункт", registrationStatus: "Регистрация",
        count: "Организации", progress: "Достижение целевых значений", target: "Цель", baseline: "Базовое значение",
        targetValue: "Целевое значение", actual: "Факт", achieved: "Выполнение", latestSignOff: "Последнее утверждение",
        asOfPosition: "По состоянию на позицию журнала", recorded: "записано", chainHash: "хеш цепочки",
        tree: "размер и корень дерева",
        values: [
            "women": "женщины", "men": "мужчины", "mixed": "смешанное", "undisclosed": "не указано",
            "registered": "зарегистрированные", "unregistered": "незарегистрированные", "urban": "город",
            "rural": "село", "consortium": "консорциум", "subGrant": "субгрант",
        ],
        rulesFormat: {
            "Малая: незарегистрированная, или с годовым бюджетом не более EUR \($0) и штатом не более \($1) человек"
        },
        signedOffFormat: { "\($0), утверждено \($1): \($2) организаций, позиция журнала \($3)" })
}

/// The HTML page of a report with what it shows beside the figure: the targets in force for
/// its programme and the latest sign-off of the same period and filters.
public enum I3PicturePage {
    /// - Parameter figures: when given (a page to publish), every target's actual figure is
    ///   taken from it (the log's fold) rather than from the read model.
    public static func make(
        _ report: I3Report, language: ReportLanguage, reporter: I3Reporter,
        figures: (@Sendable (I3Query) -> I3Figures)? = nil
    ) async throws -> I3Picture {
        let cut = CutOff.position(report.asOf.position)
        var progress = try await reporter.progress(programme: report.query.programme, cutOff: cut)
        if let figures { progress.targets = progress.targets.map { $0.recomputed(with: figures) } }
        let signOffs = try await reporter.signOffs(cutOff: cut).signOffs
        let q = report.query
        let latest = signOffs.last {
            $0.indicator == .i3 && $0.from == q.from && $0.to == q.to && $0.programme == q.programme
                && $0.callId == q.callId
        }
        return I3Picture(
            report: report, language: language, targets: progress.targets.filter { $0.indicator == .i3 },
            signOff: latest)
    }
}
