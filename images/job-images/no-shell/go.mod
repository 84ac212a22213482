module sgr-hello

go 1.26
