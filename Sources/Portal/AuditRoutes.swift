import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The auditor's pages beside the explorer: the access-anomaly alerts (`AccessService.accessAnomalies`,
/// as `GET /v1/audit/anomalies` and `careledger audit anomalies` answer them) and the network's state
/// as this node's replica knows it (`NetworkStatus`).
enum AuditRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("anomalies") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            guard let access = backend.access else { throw PortalRefusal(status: 503, message: "this node keeps no access log") }
            // The form's fields are the thresholds by name; an empty field keeps the default.
            let settings = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
                .filter { !$0.value.isEmpty }.sorted { $0.name < $1.name }
            guard settings.count <= AnomalyThresholds().settings.count else {
                throw PortalRefusal(status: 400, message: "too many query parameters")
            }
            var values = Portal.layout(backend, signedIn)
            values["anomalies"] = true
            var asked = AnomalyThresholds().settings.map { setting -> [String: Any] in
                ["name": setting.name, "value": setting.value, "help": setting.help]
            }
            do {
                let report = try await access.accessAnomalies(as: signedIn.identity, settings: settings)
                values["report"] = render(report, backend)
                asked = report.thresholds.settings.map { ["name": $0.name, "value": $0.value, "help": $0.help] }
            } catch let error as ServiceError {
                guard error.kind == .invalid else { throw PortalRefusal(error) }
                values["error"] = error.message
                for index in asked.indices {
                    if let given = settings.first(where: { $0.name == asked[index]["name"] as? String }) { asked[index]["value"] = given.value }
                }
            }
            values["thresholds"] = asked
            return PortalPages.html(PortalPages.render("anomalies", values), status: values["error"] == nil ? .ok : .badRequest)
        }
        group.get("network") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            guard signedIn.identity.kind != .patient else {
                throw PortalRefusal(status: 403, message: "the network's status is for the organizations' staff")
            }
            let status: NetworkStatus
            do { status = try await NetworkStatus.of(backend.node) } catch let error as ServiceError { throw PortalRefusal(error) }
            var values = Portal.layout(backend, signedIn)
            values["network"] = true
            values["status"] = render(status)
            return PortalPages.html(PortalPages.render("network", values))
        }
    }

    /// The report as the template shows it: the service's JSON (ids, codes, counts; no PHI) with
    /// times as ISO 8601 and each member's name on the chain.
    static func render(_ report: AnomalyReport, _ backend: PortalBackend) -> [String: Any] {
        let state = backend.node.state
        let alerts = report.alerts.map { alert -> [String: Any] in
            var out: [String: Any] = [
                "rule": alert.rule.rawValue, "member": alert.requester.hex, "memberShort": String(alert.requester.hex.prefix(12)),
                "label": Directory.identity(alert.requester, in: state)?.label ?? "",
                "roles": alert.requesterInfo.roles.map(\.rawValue).sorted().joined(separator: ", "),
                "start": ExplorerRoutes.iso8601(alert.windowStartMs), "end": ExplorerRoutes.iso8601(alert.windowEndMs),
                "count": alert.count, "threshold": alert.threshold, "evidenceTotal": alert.evidenceTotal,
                "evidence": alert.evidence.map { ["index": $0.index, "time": ExplorerRoutes.iso8601($0.timeMs), "outcome": $0.outcome.rawValue,
                                                   "reason": $0.reason.rawValue] },
                "moreEvidence": alert.evidenceTotal > alert.evidence.count,
            ]
            if let organization = alert.requesterInfo.organization {
                out["organization"] = Directory.identity(organization, in: state)?.label ?? String(organization.hex.prefix(12))
            }
            if let b = alert.baselines {
                out["baselines"] = ["own": b.ownMedian.map { "\($0)" } ?? "—", "role": b.roleMedian.map { "\($0)" } ?? "—",
                                    "ownWindows": b.ownWindows, "roleSamples": b.roleSamples, "exceeded": b.exceeded]
            }
            return out
        }
        return ["now": ExplorerRoutes.iso8601(report.nowMs), "height": report.height, "scanned": report.scanned, "considered": report.considered,
                "truncated": report.truncated, "alerts": alerts, "alertsTotal": report.alertsTotal, "capped": report.alertsTotal > alerts.count,
                "none": alerts.isEmpty]
    }

    static func render(_ status: NetworkStatus) -> [String: Any] {
        var out: [String: Any] = [
            "height": status.height, "time": ExplorerRoutes.iso8601(status.timeMs), "consortium": status.consortium,
            "finalHeight": status.finalHeight, "quorum": status.quorum, "behind": status.height - min(status.height, status.finalHeight),
            "refusedAttestations": status.refusedAttestations, "caughtUpBlocks": status.caughtUpBlocks,
            "privateFetched": status.privatePayloadsFetched, "privateRefused": status.privatePayloadsRefused,
            "disagreements": status.disagreements, "hasDisagreements": !status.disagreements.isEmpty, "truncated": status.truncated, "recentHeights": NetworkStatus.recentHeights,
            "attesters": status.attesters.map { attester -> [String: Any] in
                ["label": attester.label.isEmpty ? "(unknown)" : attester.label, "id": attester.id.hex, "idShort": String(attester.id.hex.prefix(12)),
                 "height": attester.height, "agrees": attester.agrees]
            },
            "ok": status.failure == nil && status.divergence == nil,
        ]
        if let failure = status.failure { out["failure"] = failure }
        if let divergence = status.divergence { out["divergence"] = divergence }
        if let error = status.catchUpError { out["catchUpError"] = error }
        return out
    }
}
