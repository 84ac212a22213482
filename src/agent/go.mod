module sgr-agent

go 1.26
