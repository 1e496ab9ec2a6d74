import EventStore
import Exports
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Projections
import Transparency

extension RouteRegistry {
    /// Indicator I.3: the figure, the organisations behind it, sign-offs, restatements and
    /// progress against targets; every role reads them (viewers see no actor names).
    func addIndicatorRoutes(_ services: ServerServices) {
        addI3FigureRoutes(services)
        addI3OrganisationRoutes(services)
        addSignOffRoutes(services)
        addFrameworkRoutes(services)
    }

    /// The results framework (docs/domain.md §13): the catalogue, and any indicator by its
    /// code, counted from the log at the cut-off (I.3 answers its §4 report), with what
    /// stands behind its number.
    func addFrameworkRoutes(_ services: ServerServices) {
        let routes = group(.manager, .auditor, .viewer)
        for list in ["activities", "organisations"] {
            routes.get("/v1/indicators/{code}/\(list)") { request, context in
                let (i3Query, cutOff) = try i3Inputs(request)
                let format = try textFormat(request, allowed: [.json, .csv, .table])
                let bom = try bomParameter(request)
                let code = try context.parameters.require("code")
                guard let definition = ResultsFramework.indicator(code) else {
                    throw APIError.notFound("no indicator \"\(code)\"")
                }
                let query = IndicatorQuery(
                    from: i3Query.from, to: i3Query.to, programme: i3Query.programme, callId: i3Query.callId)
                var drillDown = try await IndicatorEngine.drillDown(
                    definition, list, query, cutOff: cutOff, pool: services.pool, memory: services.indicators)
                // Viewers see confidential organisations as pseudonyms (docs/domain.md §15).
                if let redaction = try await ViewerRedaction.make(context, services) {
                    drillDown.organisations = drillDown.organisations?.map { row in
                        var copy = row
                        copy.name = redaction.name(row.organisationId, row.name, regionCode: row.regionCode)
                        copy.organisationId = redaction.id(row.organisationId)
                        return copy
                    }
                }
                switch format {
                case .json: return jsonResponse(.ok, ResponseJSON.text(drillDown))
                case .csv: return csvResponse(drillDown.csv, byteOrderMark: bom)
                case .table: return textResponse(drillDown.table, contentType: "text/plain; charset=utf-8")
                }
            }
        }
        routes.get("/v1/results-framework") { request, context in
            let (i3Query, cutOff) = try i3Inputs(request)
            // The printable page: format=html or Accept: text/html, in lang (or Accept-Language).
            let html =
                request.uri.queryParameters.get("format") == "html"
                || (request.uri.queryParameters.get("format") == nil
                    && request.headers[.accept]?.contains("text/html") == true)
            let format = html ? .json : try textFormat(request, allowed: [.json, .csv, .table])
            let language = try languageParameter(request)
            let bom = try bomParameter(request)
            let query = IndicatorQuery(
                from: i3Query.from, to: i3Query.to, programme: i3Query.programme, callId: i3Query.callId)
            // At the head: the framework's fold in memory, I.3 from the index behind /v1/indicators/i3.
            let reporter = services.reporter
            var framework = try await FrameworkReport.make(
                query, cutOff: cutOff, pool: services.pool, memory: services.indicators,
                i3: { try await reporter.renderedReportFromReadModel($0, cutOff: .position($1)).report.figures })
            // Viewers see no actor names (docs/domain.md §15).
            if context.identity?.role == .viewer { framework = framework.withoutActors }
            if html {
                return textResponse(
                    FrameworkPage(framework, language: language).html, contentType: "text/html; charset=utf-8",
                    language: language)
            }
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(framework))
            case .csv: return csvResponse(framework.csv, byteOrderMark: bom)
            case .table: return textResponse(framework.table, contentType: "text/plain; charset=utf-8")
            }
        }
        addIndicatorSignOffRoutes(routes, services)
        routes.get("/v1/indicators") { _, _ in
            jsonResponse(.ok, ResponseJSON.text(IndicatorCatalogue()))
        }
        routes.get("/v1/indicators/{code}") { request, context in
            // The query first: a malformed one is 400 whatever the code.
            let (i3Query, cutOff) = try i3Inputs(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let bom = try bomParameter(request)
            let code = try context.parameters.require("code")
            guard let definition = ResultsFramework.indicator(code) else {
                throw APIError.notFound(
                    "no indicator \"\(code)\"; one of "
                        + ResultsFramework.indicators.map(\.code).joined(separator: ", "))
            }
            if definition.measure == .smallOrganisations {
                let report = try await i3Report(i3Query, cutOff: cutOff, try ReadRequirement(request), services)
                switch format {
                case .json: return textResponse(report.json, contentType: "application/json; charset=utf-8")
                case .csv: return csvResponse(report.csv, byteOrderMark: bom)
                case .table: return textResponse(report.report.table, contentType: "text/plain; charset=utf-8")
                }
            }
            let query = IndicatorQuery(
                from: i3Query.from, to: i3Query.to, programme: i3Query.programme, callId: i3Query.callId)
            let report = try await IndicatorEngine.report(
                definition, query, cutOff: cutOff, pool: services.pool, memory: services.indicators)
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(report))
            case .csv: return csvResponse(report.csv, byteOrderMark: bom)
            case .table: return textResponse(report.table, contentType: "text/plain; charset=utf-8")
            }
        }
    }

    /// The I.3 figure as JSON, CSV, SVG or an HTML page.
    func addI3FigureRoutes(_ services: ServerServices) {
        let routes = group(.manager, .auditor, .viewer)
        routes.get("/v1/indicators/i3") { request, context in
            let (query, cutOff) = try i3Inputs(request)
            let accept = request.headers[.accept] ?? ""
            let bom = try bomParameter(request)
            let language = try languageParameter(request)
            let report = try await i3Report(query, cutOff: cutOff, try ReadRequirement(request), services)
            if accept.contains("image/svg+xml") {
                return textResponse(
                    I3Picture(report: report.report, language: language).svgDocument,
                    contentType: "image/svg+xml; charset=utf-8", language: language)
            }
            if accept.contains("text/html") {
                let page = try await I3PicturePage.make(report.report, language: language, reporter: services.reporter)
                return textResponse(page.html, contentType: "text/html; charset=utf-8", language: language)
            }
            if accept.contains("text/csv") {
                return csvResponse(report.csv, byteOrderMark: bom)
            }
            return textResponse(report.json, contentType: "application/json; charset=utf-8")
        }

    }

    /// The organisations behind the I.3 figure, streamed: from memory when the background
    /// service keeps the read model there, else from the read model.
    func addI3OrganisationRoutes(_ services: ServerServices) {
        let routes = group(.manager, .auditor, .viewer)
        routes.get("/v1/indicators/i3/organisations") { request, context in
            let (query, cutOff) = try i3Inputs(request)
            let parameters = request.uri.queryParameters
            let filter = I3RowFilter(
                regionCode: try parameters.get("regionCode").map { code in
                    guard Region.isValid(code) else {
                        throw APIError.invalid("regionCode must be an ISO 3166-2:KZ code")
                    }
                    return code
                },
                leadershipGender: try enumeration(parameters, "leadershipGender"),
                settlement: try enumeration(parameters, "settlement"),
                registrationStatus: try enumeration(parameters, "registrationStatus"),
                channel: try enumeration(parameters, "channel"))
            let format = try textFormat(request, allowed: ReportFormat.allCases)
            let bom = try bomParameter(request)
            // The reporter (a replica's, or the primary's) and the cut, resolved before the answer
            // starts, so that a bad cut-off is a 400, not a broken stream.
            let chosen: (reporter: I3Reporter, cut: Int64) = try await onReporter(
                try ReadRequirement(request), cutOff: cutOff, services
            ) { reporter in
                let cut: Int64 = try await reporter.readModelCut(cutOff)
                return (reporter, cut)
            }
            let (reporter, cut) = chosen
            let list = I3OrganisationList(query: query, filter: filter, format: format, byteOrderMark: bom)
            // From memory when the background service keeps the read model there; else streamed
            // from the read model.
            let loaded = try await reporter.organisationsFromMemory(query, filter: filter, cut: cut)
            // Viewers see confidential organisations as pseudonyms (docs/domain.md §15).
            let redaction = try await ViewerRedaction.make(context, services)
            let fromMemory = loaded.map { asOf, rows in (asOf, redaction.map { rows.map($0.row) } ?? rows) }
            return Response(
                status: .ok, headers: [.contentType: list.contentType],
                body: ResponseBody { writer in
                    var buffer = ByteBuffer()
                    var count = 0
                    func add(_ row: I3OrganisationRow) async throws {
                        buffer.writeString(list.row(redaction?.row(row) ?? row, index: count))
                        count += 1
                        if buffer.readableBytes >= 64 << 10 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    if let (asOf, rows) = fromMemory {
                        buffer.writeString(list.header(asOf: asOf))
                        for text in await list.render(rows) {
                            buffer.writeString(text)
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                        count = rows.count
                    } else {
                        try await reporter.organisations(
                            query, filter: filter, cutOff: .position(cut),
                            header: { buffer.writeString(list.header(asOf: $0)) }, row: add)
                    }
                    buffer.writeString(list.footer(count: count))
                    try await writer.write(buffer)
                    try await writer.finish(nil)
                })
        }

    }

    /// Sign-offs, restatements and progress of any indicator by its code (docs/domain.md §14),
    /// folded from the log; `/v1/indicators/i3/...` keep I.3's read-model paths.
    func addIndicatorSignOffRoutes(_ routes: RouteRegistry, _ services: ServerServices) {
        @Sendable func indicator(_ context: LedgerRequestContext) throws -> Indicator {
            let code = try context.parameters.require("code")
            guard let indicator = Indicator(rawValue: code) else {
                throw APIError.notFound(
                    "no indicator \"\(code)\"; one of " + Indicator.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return indicator
        }
        routes.get("/v1/indicators/{code}/sign-offs") { request, context in
            let viewer = context.identity?.role == .viewer
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let bom = try bomParameter(request)
            let records = try await IndicatorEngine.signOffs(
                indicator: try indicator(context), cutOff: cutOff, pool: services.pool
            ).map { viewer ? $0.withoutActor : $0 }
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(records))
            case .csv: return csvResponse(SignOffList.csv(records), byteOrderMark: bom)
            case .table: return textResponse(SignOffList.table(records), contentType: "text/plain; charset=utf-8")
            }
        }
        routes.get("/v1/indicators/{code}/sign-offs/{reportId}") { request, context in
            let viewer = context.identity?.role == .viewer
            let wanted = try indicator(context)
            let reportId = try context.parameters.require("reportId")
            guard let record = try await IndicatorEngine.recordedSignOff(reportId, pool: services.pool),
                record.base.indicator == wanted
            else {
                throw APIError.notFound("no sign-off \"\(reportId)\" of \(wanted.rawValue)")
            }
            return jsonResponse(.ok, ResponseJSON.text(viewer ? record.withoutActor : record))
        }
        routes.get("/v1/indicators/{code}/sign-offs/{reportId}/restatement") { request, context in
            // The query first: a malformed one is 400 whatever the path names.
            let viewer = context.identity?.role == .viewer
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let bom = try bomParameter(request)
            let wanted = try indicator(context)
            let reportId = try context.parameters.require("reportId")
            guard let record = try await IndicatorEngine.recordedSignOff(reportId, pool: services.pool),
                record.base.indicator == wanted
            else {
                throw APIError.notFound("no sign-off \"\(reportId)\" of \(wanted.rawValue)")
            }
            if wanted == .i3 {
                return try await i3Restatement(
                    reportId, cutOff: cutOff, format: format, bom: bom, request: request, context: context, services)
            }
            var restatement = try await IndicatorEngine.restatement(of: record, cutOff: cutOff, pool: services.pool)
            if viewer {
                restatement.signedOff.actor = nil
                if let redaction = try await ViewerRedaction.make(context, services) {
                    restatement.changes = restatement.changes.map { change in
                        guard case .organisation(var organisation) = change else { return change }
                        organisation.organisationId = redaction.id(organisation.organisationId)
                        return .organisation(organisation)
                    }
                }
            }
            switch format {
            case .table: return textResponse(restatement.table, contentType: "text/plain; charset=utf-8")
            case .csv: return csvResponse(restatement.csv, byteOrderMark: bom)
            case .json: return jsonResponse(.ok, ResponseJSON.text(restatement))
            }
        }
        routes.get("/v1/indicators/{code}/progress") { request, context in
            let viewer = context.identity?.role == .viewer
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let programme = request.uri.queryParameters.get("programme")
            if let programme, programme.isEmpty || programme.unicodeScalars.count > 200 || programme.contains("\0") {
                throw APIError.invalid("query parameter programme must be 1-200 characters without U+0000")
            }
            let bom = try bomParameter(request)
            let wanted = try indicator(context)
            var progress = try await IndicatorEngine.progress(
                indicator: wanted, programme: programme, cutOff: cutOff, pool: services.pool)
            // Viewers see no actor names (docs/domain.md §15).
            if viewer { for index in progress.targets.indices { progress.targets[index].recorded.actor = nil } }
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(progress))
            case .csv: return csvResponse(progress.csv, byteOrderMark: bom)
            case .table: return textResponse(progress.table, contentType: "text/plain; charset=utf-8")
            }
        }
    }

    /// The sign-offs of I.3, each one, its restatement, and progress against targets.
    func addSignOffRoutes(_ services: ServerServices) {
        let routes = group(.manager, .auditor, .viewer)
        routes.get("/v1/indicators/i3/sign-offs") { request, context in
            let viewer = context.identity?.role == .viewer
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let bom = try bomParameter(request)
            let records: [SignOffRecord] = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services)
            {
                try await $0.signOffs(cutOff: cutOff).signOffs
            }.map { viewer ? $0.withoutActor : $0 }
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(records))
            case .csv: return csvResponse(SignOffList.csv(records), byteOrderMark: bom)
            case .table: return textResponse(SignOffList.table(records), contentType: "text/plain; charset=utf-8")
            }
        }

        routes.get("/v1/indicators/i3/sign-offs/{reportId}") { request, context in
            let viewer = context.identity?.role == .viewer
            let reportId = try context.parameters.require("reportId")
            let found: SignOffRecord? = try await onReporter(try ReadRequirement(request), cutOff: .head, services) {
                try await $0.signOff(reportId)
            }
            guard let record = found else {
                throw APIError.notFound("sign-off \"\(reportId)\" does not exist")
            }
            return jsonResponse(.ok, ResponseJSON.text(viewer ? record.withoutActor : record))
        }

        routes.get("/v1/indicators/i3/sign-offs/{reportId}/restatement") { request, context in
            let reportId = try context.parameters.require("reportId")
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let bom = try bomParameter(request)
            return try await i3Restatement(
                reportId, cutOff: cutOff, format: format, bom: bom, request: request, context: context, services)
        }

        routes.get("/v1/indicators/i3/progress") { request, context in
            let viewer = context.identity?.role == .viewer
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let programme = request.uri.queryParameters.get("programme")
            let bom = try bomParameter(request)
            var progress: I3Progress = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services) {
                try await $0.progress(programme: programme, cutOff: cutOff)
            }
            // Viewers see no actor names (docs/domain.md §15).
            if viewer { for index in progress.targets.indices { progress.targets[index].recorded.actor = nil } }
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(progress))
            case .csv: return csvResponse(progress.csv, byteOrderMark: bom)
            case .table: return textResponse(progress.table, contentType: "text/plain; charset=utf-8")
            }
        }

    }
}

/// `GET /v1/indicators`: the results framework's catalogue.
struct IndicatorCatalogue: Encodable {
    struct Entry: Encodable {
        var code: String
        var objective: String
        var title: String
        var measure: IndicatorMeasure
    }
    var indicators = ResultsFramework.indicators.map {
        Entry(code: $0.code, objective: $0.objective, title: $0.title, measure: $0.measure)
    }
}

/// An I.3 sign-off's restatement (docs/domain.md §9) as JSON, CSV or words; a viewer sees no
/// actor and confidential organisations as pseudonyms (§15).
func i3Restatement(
    _ reportId: String, cutOff: CutOff, format: ReportFormat, bom: Bool, request: Request,
    context: LedgerRequestContext, _ services: ServerServices
) async throws -> Response {
    var restatement: Restatement = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services) {
        try await $0.restatement(reportId, cutOff: cutOff)
    }
    if context.identity?.role == .viewer {
        restatement.signedOff.actor = nil
        if let redaction = try await ViewerRedaction.make(context, services) {
            for index in restatement.changes.indices {
                restatement.changes[index].organisationId = redaction.id(restatement.changes[index].organisationId)
            }
        }
    }
    switch format {
    case .table: return textResponse(restatement.table, contentType: "text/plain; charset=utf-8")
    case .csv: return csvResponse(restatement.csv, byteOrderMark: bom)
    case .json: return jsonResponse(.ok, ResponseJSON.text(restatement))
    }
}
