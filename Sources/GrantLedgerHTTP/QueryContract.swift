import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird

/// The query parameters the OpenAPI document declares for each operation, checked before the
/// operation's handler runs: a value the document forbids (below `minLength`, above
/// `maxLength`, off its `pattern`, outside its `enum` or its integer bounds, a required
/// parameter missing) is refused with 400 whatever the handler would make of it. The
/// document is read, not retyped, so the two cannot drift apart.
struct QueryContract: Sendable {
    /// The contract of the served document (`OpenAPIDocument.json`).
    static let shared = QueryContract(document: OpenAPIDocument.json)

    private let operations: [String: [Parameter]]

    init(document: String) {
        var operations: [String: [Parameter]] = [:]
        guard let data = document.data(using: .utf8),
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let paths = root["paths"] as? [String: Any]
        else {
            self.operations = [:]
            return
        }
        for (path, item) in paths {
            guard let item = item as? [String: Any] else { continue }
            let shared = item["parameters"] as? [[String: Any]] ?? []
            for (method, operation) in item {
                guard let operation = operation as? [String: Any], method != "parameters" else { continue }
                let declared = shared + (operation["parameters"] as? [[String: Any]] ?? [])
                let query = declared.filter { $0["in"] as? String == "query" }.compactMap(Parameter.init)
                operations["\(method.uppercased()) \(path)"] = query
            }
        }
        self.operations = operations
    }

    /// The query parameters of `METHOD path` (OpenAPI form); empty when the document has none.
    func parameters(method: HTTPRequest.Method, path: String) -> [Parameter] {
        operations["\(method.rawValue) \(path)"] ?? []
    }

    /// Throws `invalid` naming the first declared parameter whose value the document forbids.
    static func check(_ parameters: [Parameter], _ request: Request) throws {
        let query = request.uri.queryParameters
        for parameter in parameters {
            let values = query.getAll(parameter.name)
            if values.isEmpty {
                if parameter.required { throw APIError.invalid("query parameter \(parameter.name) is required") }
                continue
            }
            for value in values {
                if let problem = parameter.schema.problem(with: value) {
                    throw APIError.invalid("query parameter \(parameter.name): \(problem)")
                }
            }
        }
    }

    /// One declared query parameter.
    struct Parameter: Sendable {
        let name: String
        let required: Bool
        let schema: ValueSchema

        init?(_ object: [String: Any]) {
            guard let name = object["name"] as? String, let schema = object["schema"] as? [String: Any] else {
                return nil
            }
            self.name = name
            self.required = object["required"] as? Bool ?? false
            self.schema = ValueSchema(schema)
        }
    }

    /// The part of JSON Schema the document's query parameters use: strings (lengths in
    /// Unicode scalars, a pattern, an enumeration, `format: date`), integers with bounds,
    /// booleans, and `anyOf`.
    indirect enum ValueSchema: Sendable {
        case string(minLength: Int?, maxLength: Int?, pattern: Pattern?, values: [String]?, date: Bool)
        case integer(minimum: Int64?, maximum: Int64?)
        case boolean
        case anyOf([ValueSchema])
        case any

        init(_ schema: [String: Any]) {
            if let alternatives = schema["anyOf"] as? [[String: Any]] {
                self = .anyOf(alternatives.map(ValueSchema.init))
                return
            }
            switch schema["type"] as? String {
            case "string":
                self = .string(
                    minLength: (schema["minLength"] as? NSNumber)?.intValue,
                    maxLength: (schema["maxLength"] as? NSNumber)?.intValue,
                    pattern: (schema["pattern"] as? String).flatMap(Pattern.init),
                    values: schema["enum"] as? [String],
                    date: schema["format"] as? String == "date")
            case "integer":
                self = .integer(
                    minimum: (schema["minimum"] as? NSNumber)?.int64Value,
                    maximum: (schema["maximum"] as? NSNumber)?.int64Value)
            case "boolean":
                self = .boolean
            default:
                self = .any
            }
        }

        /// What is wrong with `value`, or nil when the schema admits it.
        func problem(with value: String) -> String? {
            switch self {
            case .any:
                return nil
            case .boolean:
                return value == "true" || value == "false" ? nil : "must be true or false"
            case .anyOf(let alternatives):
                return alternatives.contains { $0.problem(with: value) == nil }
                    ? nil : (alternatives.first?.problem(with: value) ?? "is not allowed")
            case .integer(let minimum, let maximum):
                return Self.integerProblem(value, minimum: minimum, maximum: maximum)
            case .string(let minLength, let maxLength, let pattern, let values, let date):
                let length = value.unicodeScalars.count
                if let minLength, length < minLength { return "must hold at least \(minLength) character(s)" }
                if let maxLength, length > maxLength { return "must hold at most \(maxLength) characters" }
                if let values, !values.contains(value) {
                    return "must be one of " + values.joined(separator: ", ")
                }
                if let pattern, !pattern.matches(value) { return "must match \(pattern.source)" }
                if date, BusinessDate(value) == nil { return "must be a date YYYY-MM-DD" }
                return nil
            }
        }

        /// An integer in decimal digits, optionally signed, within the bounds.
        static func integerProblem(_ value: String, minimum: Int64?, maximum: Int64?) -> String? {
            let bounds =
                switch (minimum, maximum) {
                case (let low?, let high?): "an integer from \(low) to \(high)"
                case (let low?, nil): "an integer ≥ \(low)"
                case (nil, let high?): "an integer ≤ \(high)"
                case (nil, nil): "an integer"
                }
            var digits = Substring(value)
            let negative = digits.first == "-"
            if negative || digits.first == "+" { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.utf8.allSatisfy({ (48...57).contains($0) }) else {
                return "must be \(bounds)"
            }
            // Beyond Int64 is beyond every bound the document states; the sign tells which side.
            guard let magnitude = Int64(digits) else {
                return (negative ? minimum : maximum) == nil ? nil : "must be \(bounds)"
            }
            let number = negative ? -magnitude : magnitude
            if let minimum, number < minimum { return "must be \(bounds)" }
            if let maximum, number > maximum { return "must be \(bounds)" }
            return nil
        }
    }

    /// A compiled `pattern` (ECMA-262 as JSON Schema says; the document's patterns are in
    /// the subset ICU reads the same way).
    struct Pattern: @unchecked Sendable {
        // NSRegularExpression is immutable once made, so sharing it between threads is safe.
        let expression: NSRegularExpression
        let source: String

        init?(_ source: String) {
            guard let expression = try? NSRegularExpression(pattern: source) else { return nil }
            self.expression = expression
            self.source = source
        }

        func matches(_ value: String) -> Bool {
            let range = NSRange(value.startIndex..<value.endIndex, in: value)
            return expression.firstMatch(in: value, options: [], range: range) != nil
        }
    }
}
