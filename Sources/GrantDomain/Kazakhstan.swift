/// ISO 3166-2:KZ: seventeen regions and three cities of republican significance (since June 2022).
public enum Region {
    /// Code → English name, in code order.
    public static let all: [(code: String, name: String)] = [
        ("KZ-10", "Abai Region"), ("KZ-11", "Akmola Region"), ("KZ-15", "Aktobe Region"),
        ("KZ-19", "Almaty Region"), ("KZ-23", "Atyrau Region"), ("KZ-27", "West Kazakhstan Region"),
        ("KZ-31", "Jambyl Region"), ("KZ-33", "Jetisu Region"), ("KZ-35", "Karaganda Region"),
        ("KZ-39", "Kostanay Region"), ("KZ-43", "Kyzylorda Region"), ("KZ-47", "Mangystau Region"),
        ("KZ-55", "Pavlodar Region"), ("KZ-59", "North Kazakhstan Region"), ("KZ-61", "Turkistan Region"),
        ("KZ-62", "Ulytau Region"), ("KZ-63", "East Kazakhstan Region"), ("KZ-71", "Astana (city)"),
        ("KZ-75", "Almaty (city)"), ("KZ-79", "Shymkent (city)"),
    ]

    /// Code → (Kazakh, Russian) official names, docs/domain.md §11.
    static let localNames: [String: (kk: String, ru: String)] = [
        "KZ-10": ("Абай облысы", "область Абай"), "KZ-11": ("Ақмола облысы", "Акмолинская область"),
        "KZ-15": ("Ақтөбе облысы", "Актюбинская область"), "KZ-19": ("Алматы облысы", "Алматинская область"),
        "KZ-23": ("Атырау облысы", "Атырауская область"),
        "KZ-27": ("Батыс Қазақстан облысы", "Западно-Казахстанская область"),
        "KZ-31": ("Жамбыл облысы", "Жамбылская область"), "KZ-33": ("Жетісу облысы", "область Жетісу"),
        "KZ-35": ("Қарағанды облысы", "Карагандинская область"), "KZ-39": ("Қостанай облысы", "Костанайская область"),
        "KZ-43": ("Қызылорда облысы", "Кызылординская область"),
        "KZ-47": ("Маңғыстау облысы", "Мангистауская область"), "KZ-55": ("Павлодар облысы", "Павлодарская область"),
        "KZ-59": ("Солтүстік Қазақстан облысы", "Северо-Казахстанская область"),
        "KZ-61": ("Түркістан облысы", "Туркестанская область"), "KZ-62": ("Ұлытау облысы", "область Ұлытау"),
        "KZ-63": ("Шығыс Қазақстан облысы", "Восточно-Казахстанская область"),
        "KZ-71": ("Астана қаласы", "город Астана"), "KZ-75": ("Алматы қаласы", "город Алматы"),
        "KZ-79": ("Шымкент қаласы", "город Шымкент"),
    ]

    /// The name of a region code in `language`, nil for anything else.
    public static func name(of code: String, in language: ReportLanguage) -> String? {
        switch language {
        case .en: return names[code]
        case .kk: return localNames[code]?.kk
        case .ru: return localNames[code]?.ru
        }
    }

    /// The English name of a region code, nil for anything else.
    public static func name(of code: String) -> String? { names[code] }

    static let names = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0.name) })

    /// The twenty codes, sorted.
    public static let codes: [String] = all.map(\.code)

    static let codeSet = Set(codes)

    /// True for one of the twenty codes.
    public static func isValid(_ code: String) -> Bool { codeSet.contains(code) }
}

/// Kazakhstan Business Identification Number (BIN) check digit, docs/domain.md §7.
public enum BIN {
    /// True when `text` is 12 digits whose last one is the check digit of the first 11.
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 12, bytes.allSatisfy(\.isASCIIDigit) else { return false }
        let digits = bytes.map { Int($0 - 48) }
        func checksum(_ weights: [Int]) -> Int {
            zip(digits.prefix(11), weights).map(*).reduce(0, +) % 11
        }
        var check = checksum(Array(1...11))
        if check == 10 {
            check = checksum([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])
            if check == 10 { return false }
        }
        return digits[11] == check
    }
}

/// Caller-chosen identifiers: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
public enum Identifier {
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
        }
        guard alphanumeric(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { alphanumeric($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }
}

/// The languages reports are written in: English (the default), Kazakh, Russian.
public enum ReportLanguage: String, Sendable, CaseIterable {
    case en, kk, ru

    /// The first supported language of an HTTP `Accept-Language` value, by quality then
    /// order (`kk-KZ` counts as `kk`); nil when none is supported.
    public init?(acceptLanguage header: String) {
        var best: (language: ReportLanguage, quality: Double)?
        for part in header.split(separator: ",").prefix(50) {
            let pieces = part.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" } }
            guard let tag = pieces.first?.lowercased(),
                let language = ReportLanguage(rawValue: String(tag.prefix { $0 != "-" && $0 != "_" }))
            else { continue }
            var quality = 1.0
            for parameter in pieces.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0
            }
            if quality > 0, quality > (best?.quality ?? 0) { best = (language, quality) }
        }
        guard let best else { return nil }
        self = best.language
    }
}
