print("grantledger")
