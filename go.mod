module obkv

go 1.26
