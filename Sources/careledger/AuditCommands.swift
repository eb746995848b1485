import ArgumentParser
import Console
import Contracts
import LedgerCore
import Node
import Services

/// `careledger audit`: reviews over the access log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Review the access log: access-anomaly alerts.",
        subcommands: [Anomalies.self])

    struct Anomalies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Flag members who read many patients with no care relationship, read far above their usual rate, pile up denials or break the glass repeatedly.",
            discussion: """
                Rules over this node's access log, evaluated at the head block's time (never
                the wall clock); each fires on one requester within its window:
                  no-care-relationship  distinct patients read with no care relationship
                  read-rate             reads above a multiple of the own or the role's
                                        median, or at the ceiling
                  denials               denied accesses
                  repeated-break-glass  distinct patients read under break-glass
                A care relationship: a consent naming the member, their organization or
                role; authorship of one of the patient's records; delegation; break-glass.
                By default the custodian's blanket care-team permit alone is not one.

                Each alert names the rule, member, organization, roles, window, the count
                against its threshold (and baselines), and the access-log indexes behind
                it; no patient or record ids. At most \(AccessService.anomalyEntriesScannedMax) entries are read
                (newest first) and \(AccessService.anomalyAlertsMax) alerts returned.

                Thresholds (--set NAME=VALUE, repeatable; the defaults are strict):
                \(AnomalyThresholds().settings.map { "  \($0.name) (default \($0.value))\n    \($0.help)" }.joined(separator: "\n"))

                Without --as the node's operator sees every entry; with --as, a custodian's
                auditor or admin (or the organization) sees the alerts over its own
                organization's records only. See docs/security.md, "Access-anomaly alerts".
                """)
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "Evaluate as this identity (key name): a custodian's auditor or admin, or the organization.")
        var reader: String?
        @Option(name: .customLong("set"), help: "A threshold, NAME=VALUE (repeatable; see above).") var settings: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let pairs = try settings.map { text -> (name: String, value: String) in
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { throw CLIError("--set takes NAME=VALUE, got “\(text)”") }
                return (String(text[..<equals]), String(text[text.index(after: equals)...]))
            }
            let report = try await withLedger(options.directory) { ledger in
                let identity = try reader.map { try ledger.activeIdentity($0) }
                return try await ledger.access.accessAnomalies(as: identity, settings: pairs)
            }
            if json { Terminal.json(report.json); return }
            Terminal.line("access anomalies at block \(report.height) (\(isoTime(report.nowMs))): \(report.alertsTotal) alert(s) over \(report.considered) "
                + "entries (\(report.scanned) read\(report.truncated ? "; older entries inside the lookback were NOT read" : ""))")
            for alert in report.alerts {
                let who = alert.requesterInfo.organization.map { "\(alert.requester.hex.prefix(16))… of \($0.hex.prefix(16))…" }
                    ?? "\(alert.requester.hex.prefix(16))…"
                let roles = alert.requesterInfo.roles.isEmpty ? alert.requesterInfo.roleKey : alert.requesterInfo.roles.map(\.rawValue).joined(separator: ",")
                let unit = switch alert.rule {
                case .noCareRelationship, .repeatedBreakGlass: "patients"
                case .readRate: "reads"
                case .denials: "denials"
                }
                Terminal.line("! \(pad(alert.rule.rawValue, 21)) \(who) (\(roles)): \(alert.count) \(unit), threshold \(alert.threshold), "
                    + "\(isoTime(alert.windowStartMs)) … \(isoTime(alert.windowEndMs))")
                if let b = alert.baselines {
                    Terminal.line("    own median \(b.ownMedian.map(String.init) ?? "n/a") over \(b.ownWindows) window(s); role \(b.roleKey) median "
                        + "\(b.roleMedian.map(String.init) ?? "n/a") over \(b.roleSamples); exceeded: \(b.exceeded.joined(separator: ", "))")
                }
                let more = alert.evidenceTotal > alert.evidence.count ? " (+\(alert.evidenceTotal - alert.evidence.count) more)" : ""
                Terminal.line("    entries " + alert.evidence.map { "#\($0.index)" }.joined(separator: " ") + more)
            }
        }
    }
}
