import GrantDomain
import Projections

/// The results framework as one printable HTML page in English, Kazakh or Russian
/// (docs/domain.md §13): the three objectives, every indicator's value, its target and
/// progress, its latest sign-off, and a small chart per indicator. No scripts, no external
/// resources; the Kazakh and Russian indicator titles are marked as working translations.
public struct FrameworkPage: Sendable {
    public var report: FrameworkReport
    public var language: ReportLanguage

    public init(_ report: FrameworkReport, language: ReportLanguage) {
        self.report = report
        self.language = language
    }

    var text: FrameworkLabels { FrameworkLabels.of(language) }

    /// The indicator's title in the page's language: the Roadmap's English words, or a
    /// working translation.
    func title(_ entry: FrameworkReport.Entry) -> String {
        switch language {
        case .en: return entry.title
        case .kk: return FrameworkLabels.kazakhTitles[entry.indicator] ?? entry.title
        case .ru: return FrameworkLabels.russianTitles[entry.indicator] ?? entry.title
        }
    }

    public var html: String {
        let text = self.text
        var out: [String] = []
        out.append("<!DOCTYPE html>")
        out.append("<html lang=\"\(language.rawValue)\">")
        out.append("<head>")
        out.append("<meta charset=\"utf-8\">")
        out.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        out.append("<meta http-equiv=\"Content-Security-Policy\" content=\"\(contentSecurityPolicy)\">")
        out.append("<title>\(escape(text.title)) — \(report.period.from) – \(report.period.to)</title>")
        out.append(
            """
            <style>
            body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a; margin: 24px; }
            h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
            table { border-collapse: collapse; margin: 8px 0 16px; width: 100%; }
            th, td { border: 1px solid #b0b0b0; padding: 4px 8px; text-align: left; font-size: 13px; vertical-align: top; }
            td.n { text-align: right; white-space: nowrap; }
            tbody th { width: 40%; font-weight: normal; }
            .note { font-size: 12px; color: #444444; }
            .provenance { font-size: 11px; color: #555555; word-break: break-all; }
            @media print { body { margin: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
            </style>
            """)
        out.append("</head>")
        out.append("<body>")
        out.append("<h1>\(escape(text.title))</h1>")
        var scope = "\(text.period): \(report.period.from) – \(report.period.to)"
        if let programme = report.filters.programme { scope += "; \(text.programme): \(programme)" }
        if let call = report.filters.callId { scope += "; \(text.call): \(call)" }
        out.append("<p>\(escape(scope))</p>")
        if language != .en {
            out.append("<p class=\"note\" data-working-translation=\"note\">\(escape(text.workingTranslation))</p>")
        }
        for objective in ["I", "II", "III"] {
            out.append("<h2>\(escape(text.objective(objective)))</h2>")
            out.append("<table data-objective=\"\(objective)\"><thead><tr>")
            for heading in [text.indicator, text.value, text.target, text.progress, text.latestSignOff, text.chart] {
                out.append("<th scope=\"col\">\(escape(heading))</th>")
            }
            out.append("</tr></thead><tbody>")
            for entry in report.indicators where entry.objective == objective {
                out.append(row(entry))
            }
            out.append("</tbody></table>")
        }
        out.append(
            "<p class=\"provenance\">\(escape(text.asOfPosition)) \(report.asOf.position)"
                + (report.asOf.recordedAt.map { " (\(escape(text.recorded)) \(escape($0)))" } ?? "")
                + "<br>\(escape(text.chainHash)) \(escape(report.asOf.hash))"
                + (report.asOf.treeSize.map {
                    "<br>\(escape(text.tree)) \($0) \(escape(report.asOf.rootHash ?? ""))"
                } ?? "") + "</p>")
        out.append("</body>")
        out.append("</html>")
        return out.joined(separator: "\n") + "\n"
    }

    /// One indicator: code and title, value, its first target in force, progress, the latest
    /// sign-off and the chart.
    func row(_ entry: FrameworkReport.Entry) -> String {
        let text = self.text
        let marked = language == .en ? "" : " <span data-working-translation=\"title\">*</span>"
        let target = self.target(entry)
        var cells = [
            "<th scope=\"row\"><strong>\(escape(entry.indicator))</strong> \(escape(title(entry)))\(marked)</th>",
            "<td class=\"n\" data-indicator=\"\(escape(entry.indicator))\" data-value=\"\(entry.value.map(String.init) ?? "")\">"
                + (entry.value.map(String.init) ?? "—") + "</td>",
        ]
        if let target {
            cells.append(
                "<td class=\"n\" data-target=\"\(escape(target.targetId))\">\(target.target)"
                    + "<br><span class=\"note\">\(target.period.from) – \(target.period.to)"
                    + (target.programme.map { ", \(escape($0))" } ?? "") + "</span></td>")
            cells.append(
                "<td class=\"n\">\(target.actual) / \(target.target)"
                    + (target.achieved.map { " (\(Self.percent($0)))" } ?? "") + "</td>")
        } else {
            cells.append("<td class=\"n\">—</td>")
            cells.append("<td class=\"n\">—</td>")
        }
        if let signOff = entry.latestSignOff {
            cells.append(
                "<td data-sign-off=\"\(escape(signOff.reportId))\">\(escape(signOff.reportId))"
                    + (signOff.value.map { ": \($0)" } ?? "")
                    + "<br><span class=\"note\">\(escape(text.asOfPosition)) \(signOff.position)</span></td>")
        } else {
            cells.append("<td>—</td>")
        }
        cells.append("<td>\(chart(entry))</td>")
        return "<tr>" + cells.joined() + "</tr>"
    }

    /// The target shown for an indicator: the first in force of the page's programme (all
    /// programmes when it has none), else the first in force.
    func target(_ entry: FrameworkReport.Entry) -> I3Progress.TargetProgress? {
        entry.targets.first { $0.programme == report.filters.programme } ?? entry.targets.first
    }

    /// A small bar. With a target: the target's actual (its own period and programme)
    /// against it, the target as a line. Without: the value against the largest value of
    /// the framework, the latest signed-off value as a circle.
    func chart(_ entry: FrameworkReport.Entry) -> String {
        guard let value = entry.value else { return "—" }
        let target = self.target(entry)
        let shown = target.map { Int64($0.actual) } ?? value
        let scale = max(
            target.map { max(Int64($0.target), Int64($0.actual)) }
                ?? max(report.indicators.compactMap(\.value).max() ?? 0, entry.latestSignOff?.value ?? 0), 1)
        let width = 160.0
        func x(_ v: Int64) -> String { String(format: "%.1f", width * Double(v) / Double(scale)) }
        let label = target.map { "\($0.actual) / \($0.target)" } ?? "\(value)"
        var parts = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"170\" height=\"22\" viewBox=\"0 0 170 22\" role=\"img\">",
            "<title>\(escape(entry.indicator)): \(label)</title>",
            "<rect x=\"0\" y=\"5\" width=\"\(width)\" height=\"12\" fill=\"#e6e6e6\"/>",
            "<rect x=\"0\" y=\"5\" width=\"\(x(shown))\" height=\"12\" fill=\"#1f5f8b\"/>",
        ]
        if let target {
            parts.append(
                "<line x1=\"\(x(Int64(target.target)))\" y1=\"1\" x2=\"\(x(Int64(target.target)))\" y2=\"21\" stroke=\"#b35900\" stroke-width=\"2\"/>"
            )
        } else if let signed = entry.latestSignOff?.value {
            parts.append(
                "<circle cx=\"\(x(signed))\" cy=\"11\" r=\"3\" fill=\"#ffffff\" stroke=\"#1a1a1a\" stroke-width=\"1\"/>"
            )
        }
        parts.append("</svg>")
        return parts.joined()
    }

    /// `1.2500` as `125%`, `0.4286` as `42.9%`.
    static func percent(_ ratio: Ratio) -> String {
        let tenths = (ratio.units + 5) / 10  // ten-thousandths to tenths of a percent, half up
        return tenths % 10 == 0 ? "\(tenths / 10)%" : "\(tenths / 10).\(tenths % 10)%"
    }
}

/// The words of the framework page in one language.
struct FrameworkLabels: Sendable {
    var title: String
    var period: String
    var programme: String
    var call: String
    var indicator: String
    var value: String
    var target: String
    var progress: String
    var latestSignOff: String
    var chart: String
    var objectiveFormat: @Sendable (String) -> String
    var workingTranslation: String
    var asOfPosition: String
    var recorded: String
    var chainHash: String
    var tree: String

    func objective(_ code: String) -> String { objectiveFormat(code) }

    static func of(_ language: ReportLanguage) -> FrameworkLabels {
        switch language {
        case .en: return english
        case .kk: return kazakh
        case .ru: return russian
        }
    }

    static let english = FrameworkLabels(
        title: "Civil Society Roadmap for Kazakhstan: results framework", period: "Period", programme: "Programme",
        call: "Call", indicator: "Indicator", value: "Value", target: "Target", progress: "Progress",
        latestSignOff: "Latest sign-off",
        chart: "Progress to the target (line); without one, the value and the sign-off (circle)",
        objectiveFormat: { "Objective \($0)" }, workingTranslation: "",
        asOfPosition: "As of log position", recorded: "recorded", chainHash: "chain hash",
        tree: "tree size and root")

    static let kazakh = FrameworkLabels(
        title: "Қазақстандағы азаматтық қоғам жөніндегі жол картасы: нәтижелер жүйесі", period: "Кезең",
        programme: "Бағдарлама", call: "Конкурс", indicator: "Индикатор", value: "Мәні", target: "Нысана",
        progress: "Орындалуы", latestSignOff: "Соңғы бекіту",
        chart: "Нысанаға (сызық) жету; нысана жоқ болса, мәні және бекіту (шеңбер)",
        objectiveFormat: { "\($0) мақсат" },
        workingTranslation:
            "* Индикаторлардың қазақша атаулары — жұмыс аудармасы; ресми мәтін — жол картасының ағылшынша нұсқасы.",
        asOfPosition: "Журнал позициясы бойынша", recorded: "жазылған уақыты", chainHash: "тізбек хэші",
        tree: "ағаш өлшемі мен түбірі")

    static let russian = FrameworkLabels(
        title: "Дорожная карта ЕС по гражданскому обществу в Казахстане: система результатов", period: "Период",
        programme: "Программа", call: "Конкурс", indicator: "Индикатор", value: "Значение", target: "Целевое значение",
        progress: "Выполнение", latestSignOff: "Последнее утверждение",
        chart: "Продвижение к целевому значению (линия); без него значение и утверждение (круг)",
        objectiveFormat: { "Цель \($0)" },
        workingTranslation:
            "* Названия индикаторов на русском языке — рабочий перевод; официальный текст — английская версия дорожной карты.",
        asOfPosition: "По состоянию на позицию журнала", recorded: "записано", chainHash: "хеш цепочки",
        tree: "размер и корень дерева")

    /// Working translations of the Roadmap's indicator titles.
    static let kazakhTitles: [String: String] = [
        "I.1": "ЕО мен ҚР Үкіметі арасындағы АҚҰ үшін қолайлы орта мәселесіне арналған диалогтар саны",
        "I.2":
            "ЕО қолдаған, қолайлы ортаның үрдістерін зерттеуге және/немесе бақылауға арналған АҚ іс-шараларының саны",
        "I.3": "ЕО қаржыландыруына қол жеткізген Қазақстанның шағын АҚҰ-ларының саны (жынысы, орналасқан жері бойынша)",
        "I.4": "Қолдау көрсетілген құқық қорғаушылар, белсенділер мен журналистер саны",
        "I.5": "Қазақстанның қолайлы орта жөніндегі жалпы танылған халықаралық индикаторлардағы рейтингінің жақсаруы",
        "II.1":
            "ЕО ұйымдастырған, мемлекеттік саясатты, инклюзивті саясат әзірлеу тәжірибесін және азаматтық қоғамның саясатқа қатысуын талқылауға арналған бастамалар саны",
        "II.2":
            "ҚР Үкіметі мен қазақстандық АҚҰ арасындағы а) жасыл келісім, ә) цифрландыру, б) тиімді басқару, есептілік және тәуелсіз сот, в) адам құқықтары мен заң үстемдігі бойынша саяси диалог бастамаларының саны",
        "II.3": "АҚҰ-ның мемлекеттік саясаттағы рөлі мен қатысуын ілгерілетуге арналған ЕО қолдаған бастамалар саны",
        "III.1":
            "Қазақстандық АҚҰ-ның қаржылық тұрақтылығы мен әлеуетін дамыту бойынша Үкіметпен талқылауға арналған саяси диалог бастамаларының саны",
        "III.2": "Орта және ұзақ мерзімді тұрақтылықты қолдауға арналған ЕО қолдаған бастамалар саны",
        "III.3": "Әлеуетіне қолдау көрсетілген әйелдер ұйымдарының саны",
        "III.4":
            "ЕО-ның жаңа азаматтық қоғам субъектілеріне, соның ішінде гендерлік мәселелермен айналысатындарға, қолжетімділігін арттыратын бастамалар саны",
        "III.5": "ЕО бастаған, қазақстандық АҚҰ-ның әлеуетін нығайтуға бағытталған әлеуетті дамыту іс-шараларының саны",
        "III.6": "ЕО қолдаған, желі құру/одақ құру дағдыларына бағытталған бастамалар саны",
    ]

    static let russianTitles: [String: String] = [
        "I.1": "Число диалогов между ЕС и Правительством РК по вопросу благоприятной среды для ОГО",
        "I.2": "Число мероприятий ГО при поддержке ЕС по исследованию и/или мониторингу тенденций благоприятной среды",
        "I.3":
            "Число малых казахстанских ОГО (в разбивке по полу и местоположению), получивших доступ к финансированию ЕС",
        "I.4": "Число правозащитников, активистов и журналистов, получивших поддержку",
        "I.5": "Улучшение положения Казахстана в общепризнанных международных индикаторах благоприятной среды",
        "II.1":
            "Число инициатив, организованных ЕС для обсуждения государственной политики, обмена опытом инклюзивной разработки политики и участия гражданского общества в её формировании",
        "II.2":
            "Число инициатив политического диалога между Правительством РК и казахстанскими ОГО по а) зелёной сделке, б) цифровизации, в) надлежащему управлению, подотчётности и независимости судебной системы, г) правам человека и верховенству закона",
        "II.3": "Число инициатив при поддержке ЕС по продвижению роли и участия ОГО в государственной политике",
        "III.1":
            "Число инициатив политического диалога с Правительством РК по финансовой устойчивости и развитию потенциала казахстанских ОГО",
        "III.2": "Число инициатив при поддержке ЕС по поддержке устойчивости в средне- и долгосрочной перспективе",
        "III.3": "Число женских организаций, потенциал которых получил поддержку",
        "III.4":
            "Число инициатив при поддержке ЕС, расширяющих охват ЕС новых субъектов гражданского общества, в том числе работающих по гендерной тематике",
        "III.5": "Число мероприятий по развитию потенциала, начатых ЕС для укрепления потенциала казахстанских ОГО",
        "III.6": "Число инициатив при поддержке ЕС, направленных на навыки создания сетей и альянсов",
    ]
}
