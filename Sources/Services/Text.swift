public import LedgerCore

/// Pads text with spaces to `width` characters (for aligned columns in readable output).
public func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }

/// Parses a 64-hex id; `what` names it in the error.
public func hexID(_ text: String, _ what: String) throws(ServiceError) -> Hash256 {
    guard text.count == 64, let id = Hash256(hex: text) else { throw ServiceError("\(what) must be 64 hex digits") }
    return id
}
