module github.com/distgate/distgate

go 1.26
