import XCTest
@testable import ThudMedia
final class P: XCTestCase {}
