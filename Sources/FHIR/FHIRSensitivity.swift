public import Contracts

/// The sensitivity category a resource declares through `meta.security` labels (HL7 v3
/// ActCode sensitivity codes). A resource with none is `general`.
public enum FHIRSensitivity {
    /// Security label codes and the category each selects.
    public static let codes: [String: SensitivityCategory] = [
        "PSY": .mentalHealth, "PSYTHPN": .mentalHealth, "MH": .mentalHealth,
        "ETH": .substanceUse, "ETHUD": .substanceUse, "SUD": .substanceUse, "ALC": .substanceUse, "ALCUD": .substanceUse,
        "OPIOIDUD": .substanceUse, "DRGIS": .substanceUse,
        "HIV": .hiv,
        "STD": .sexualReproductive, "SEX": .sexualReproductive, "SDV": .sexualReproductive, "REPRO": .sexualReproductive,
        "GDIS": .genetic, "GENETIC": .genetic,
    ]

    /// The most specific category named in `meta.security` (the first in the list's order of
    /// `SensitivityCategory.allCases` when several are named).
    public static func category(of resource: [String: Any]) -> SensitivityCategory {
        let labels = ((resource["meta"] as? [String: Any])?["security"] as? [Any])?.compactMap { ($0 as? [String: Any])?["code"] as? String } ?? []
        let named = Set(labels.compactMap { codes[$0] })
        return SensitivityCategory.allCases.first { $0.isSensitive && named.contains($0) } ?? .general
    }

    /// The `meta.security` coding that declares `category` (for resources written back out).
    public static func label(for category: SensitivityCategory) -> [String: Any]? {
        let code: String? = switch category {
        case .general: nil
        case .mentalHealth: "PSY"
        case .substanceUse: "ETH"
        case .sexualReproductive: "SDV"
        case .hiv: "HIV"
        case .genetic: "GDIS"
        }
        return code.map { ["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": $0] }
    }
}
