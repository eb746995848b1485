import Foundation
public import LedgerCore

/// Pads text with spaces to `width` characters (for aligned columns in readable output).
public func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }

/// Parses a 64-hex id; `what` names it in the error.
public func hexID(_ text: String, _ what: String) throws(ServiceError) -> Hash256 {
    guard text.count == 64, let id = Hash256(hex: text) else { throw ServiceError("\(what) must be 64 hex digits") }
    return id
}

/// `application/x-www-form-urlencoded` bodies (`a=b&c=d`, `+` as a space, then percent-decoding).
public enum FormEncoding {
    /// The fields of a body; of duplicate names the first counts, a pair without a name is dropped.
    public static func fields(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first, !name.isEmpty, out[name] == nil else { continue }
            out[name] = parts.count > 1 ? parts[1] : ""
        }
        return out
    }
}
