import GrantDomain
import Projections

/// What a viewer token sees of confidential organisations (docs/domain.md §15): each appears
/// only as its pseudonym, named "Civil society group, <region>", with its dimensions kept,
/// so that every count and every row count is the manager's. Built per request from the
/// profiles as the log stands at the head.
struct ViewerRedaction: Sendable {
    let pseudonyms: Pseudonyms
    let profiles: @Sendable (String) -> OrganisationProfile?

    /// The redaction for `context`'s caller: nil for managers and auditors (they see names);
    /// grantees read only their own grants, and see them named.
    static func make(_ context: LedgerRequestContext, _ services: ServerServices) async throws -> ViewerRedaction? {
        guard context.identity?.role == .viewer else { return nil }
        let ledger = try await services.indicators.atHead(fresh: true, indexed: false).fold.ledger
        return ViewerRedaction(pseudonyms: services.pseudonyms, profiles: { ledger.profile($0) })
    }

    func isConfidential(_ organisationId: String) -> Bool {
        // An organisation the log does not know (yet) is withheld too.
        profiles(organisationId)?.isConfidential ?? true
    }

    /// The identifier a viewer sees.
    func id(_ organisationId: String) -> String {
        isConfidential(organisationId) ? pseudonyms.pseudonym(organisationId) : organisationId
    }

    /// The name a viewer sees.
    func name(_ organisationId: String, _ name: String, regionCode: String?) -> String {
        isConfidential(organisationId) ? Pseudonyms.name(regionCode: regionCode) : name
    }

    func row(_ row: I3OrganisationRow) -> I3OrganisationRow {
        guard isConfidential(row.organisationId) else { return row }
        var copy = row
        copy.organisationId = pseudonyms.pseudonym(row.organisationId)
        copy.name = Pseudonyms.name(regionCode: row.place.regionCode)
        return copy
    }

    /// Every organisation in a document: `organisationId` values (with the `name`, `bin`
    /// and budget beside one, in an organisation's own document), `participants` and
    /// `members` items; `actor` keys are dropped (viewers see no actor names).
    func json(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map(json))
        case .object(var object):
            object["actor"] = nil
            if case .string(let id)? = object["organisationId"], isConfidential(id) {
                object["organisationId"] = .string(pseudonyms.pseudonym(id))
                if object["name"] != nil {
                    let region: String? = if case .string(let code)? = object["regionCode"] { code } else { nil }
                    object["name"] = .string(Pseudonyms.name(regionCode: region))
                }
                // What could name it beside its dimensions.
                for key in ["bin", "annualBudgetEur", "staffCount"] { object[key] = nil }
            }
            if case .array(let ids)? = object["participants"] {
                object["participants"] = .array(
                    ids.map { if case .string(let id) = $0 { .string(self.id(id)) } else { $0 } })
            }
            for (key, child) in object where key != "organisationId" && key != "participants" {
                object[key] = json(child)
            }
            return .object(object)
        default: return value
        }
    }
}
